from shared.settings import ServiceSettings, load_settings

SERVICE = "enrolment"


class EnrolmentSettings(ServiceSettings):
    # Enrolment requests are short transactions; a larger pool keeps bursts (200 concurrent
    # requests on one session) waiting on the session's row lock rather than on the pool.
    db_pool_min: int = 10
    db_pool_max: int = 30


def settings() -> EnrolmentSettings:
    return load_settings(EnrolmentSettings, SERVICE)
