from shared.settings import ServiceSettings, load_settings

SERVICE = "activities"


class ActivitiesSettings(ServiceSettings):
    pass


def settings() -> ActivitiesSettings:
    return load_settings(ActivitiesSettings, SERVICE)
