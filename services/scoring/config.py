from pathlib import Path
from typing import Literal

from pydantic import Field

from shared.settings import ServiceSettings, load_settings

SERVICE = "scoring"
DEFAULT_INDICATORS = Path(__file__).parent / "indicators" / "shenzhen-learning-street-v1.yaml"


class ScoringSettings(ServiceSettings):
    # SCORING_INDICATORS_FILE: a street's own indicator file (weights, targets, pass lines, honours).
    indicators_file: str = str(DEFAULT_INDICATORS)
    # The attendance path is one transaction per batch: bigger batches amortise the round trips.
    consumer_max_records: int = 5000
    # The cached index is recomputed from the aggregates at most this often.
    refresh_interval_s: float = 0.25
    # Recomputed at least this often even without events (4-week and 12-month windows move).
    idle_refresh_s: float = 10.0
    honours_interval_s: float = 1.0
    # SCORING_SELECTION_MODE: reviewed or automatic, over the indicator file's `selection: mode` (a demo
    # that has nobody to review its candidates may award them at once; docs/decisions/0011-honour-selection.md).
    selection_mode: Literal["reviewed", "automatic"] | None = None
    # SCORING_EVIDENCE_MAX_BYTES: the largest evidence file accepted (413 beyond; domain/evidence.py).
    evidence_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    # SCORING_DISTRICT_STREETS: a district instance (docs/decisions/0022-district-view.md): the streets
    # whose published index it reads, `pinghu=scoring.index,nanwan` (a bare id: `<id>.scoring.index`).
    # Set, the instance consumes only those topics and serves only the district routes and page.
    district_streets: str = ""
    # SCORING_DISTRICT_MAX_CLOCK_SKEW_S: a district instance dead-letters (computed_at_in_future) an index
    # update dated more than this ahead of its clock: newer wins, so it would pin the street's row.
    district_max_clock_skew_s: float = Field(300.0, ge=0)
    # SCORING_DISTRICT_GROUP: the district instance's consumer group (default
    # `learnstreet.scoring.district`, behind the street prefix). Two district deployments reading the
    # same streets into different databases need a group each, or each would see only part of the
    # updates; it must stay under scoring's prefixed group ACL (`learnstreet.scoring`).
    district_group: str = ""
    # SCORING_CHECKPOINT_INTERVAL_SECONDS: the index's checkpoint (the copy `rebuild --from-checkpoint`
    # starts from, ADR 0010) is taken again once older than this; 0: only by the operator's command.
    checkpoint_interval_seconds: float = Field(86_400.0, ge=0)
    # Tests only: a file holding seconds by which the selection's clock is shifted (adapters/shifted_clock.py).
    test_clock_file: str | None = None


def settings() -> ScoringSettings:
    return load_settings(ScoringSettings, SERVICE)
