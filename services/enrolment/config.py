from shared.settings import ServiceSettings, load_settings

SERVICE = "enrolment"


class EnrolmentSettings(ServiceSettings):
    pass


def settings() -> EnrolmentSettings:
    return load_settings(EnrolmentSettings, SERVICE)
