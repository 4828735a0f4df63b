from pydantic import Field, field_validator

from shared.http.cors import parse_origins
from shared.settings import ServiceSettings, load_settings

SERVICE = "activities"


class ActivitiesSettings(ServiceSettings):
    # A check-in whose resident or session is unknown waits this long (from its first arrival)
    # for the event that would explain it before it is rejected.
    pending_grace_s: float = 600.0
    # Parked check-ins are also judged again this often, so the grace period ends on time.
    pending_sweep_s: float = 30.0
    # A scan synced later than this after it was made is flagged late_sync (offline kiosk).
    late_sync_s: float = 900.0
    # Per-batch costs (commit fsync, round trips, the outbox row) dominate the check-in path:
    # bigger batches are much cheaper per check-in (measured, see bench/checkins_activities.py).
    consumer_max_records: int = 5_000
    # Committed check-in batches whose events wait to be published before the consumer waits.
    checkin_outbox_max_queued: int = 3
    # Rows of the check-in outbox older than this are published by the sweep of any instance.
    checkin_outbox_sweep_after_s: float = 5.0
    # Origins whose pages may call this API from a browser (ACTIVITIES_CORS_ORIGINS, comma-separated;
    # empty: none): the residents' phone page on enrolment lists and answers surveys and rates
    # sessions here (shared/http/cors.py). Kept normalised, `scheme://host[:port]`, one comma apart.
    cors_origins: str = ""
    # Pending erasures are looked at this often to cut kiosk.checkins below the committed offsets
    # (adapters/kiosk_trim.py), and at once after an erasure commits.
    kiosk_trim_every_s: float = Field(30.0, gt=0)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        return ",".join(parse_origins(value))  # start-up fails naming an entry that is no origin


def settings() -> ActivitiesSettings:
    return load_settings(ActivitiesSettings, SERVICE)
