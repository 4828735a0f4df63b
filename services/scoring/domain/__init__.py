"""Scoring's domain rules, pure Python (no I/O). Where each rule lives:

- `street.py`: the street's calendar (`local_day`, `period_of`) and `STREET`, the id under which
  the whole street is reported.
- `indicators.py`: the metric catalogue (`METRICS`: what each metric counts, over which window,
  and the words for closing a gap) and an indicator set's aspects and leaves (`IndicatorSet`).
  The file format is read by `adapters/indicator_file.py`.
- `scoring.py`: a leaf's score (`computed_score`), the pass line (`below_pass`), and one
  community's index with its rectification list (`score_community`).
- `rectification.py`: the gap to the pass line and what closes it (`gap`, `assessed_gap`), and the
  rectification task's steps, owners and overdue rule (`move`, `owns`, `is_overdue`).
- `assessment.py`: self-assessment and expert assessment kept apart; who records which and which
  score counts (`kind_for`, `effective`).
- `attendance.py`: the hot path's fold of attendance facts into states and counter deltas
  (`fold_attendance`, `apply_batch`, `Aggregates`; `recompute` is the tests' oracle).
- `honours.py`: the honour kinds, the rule thresholds (`HonourRules`: who is nominated) and
  deterministic honour ids.
- `selection.py`: how a candidate becomes an honour (community review, the street's quota, the
  notice period and its objections), as pure transitions; `SelectionRules` from the indicator file.
"""
