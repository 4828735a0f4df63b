"""The catalogue read model: venues, courses and sessions as learnt from `activities.catalogue`.

Activities owns the catalogue; enrolment, scoring and notify each keep this same copy of it in
their own database (tables `venues`, `courses`, `sessions`):

- `model.py`: what a service reads back of a course and a session (`CourseRef`, `SessionRef`);
- `repository.py`: the SQL that reads and writes those tables;
- `projection.py`: the handlers of the catalogue events and their table `HANDLERS`, which a
  service merges into its own, replacing an entry by its own handler when it reacts further
  (that handler calls the projection's first);
- `migrations/`: the tables, applied to a service's database when its bootstrap passes
  `read_models=(catalogue.MIGRATIONS,)` to its `Runtime`.

A service may add columns of its own to these rows in its own migrations (enrolment keeps a
session's seats, waitlist and version on the session row, so that one row lock covers both).
"""

from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
