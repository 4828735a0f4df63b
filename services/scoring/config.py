from shared.settings import ServiceSettings, load_settings

SERVICE = "scoring"


class ScoringSettings(ServiceSettings):
    pass


def settings() -> ScoringSettings:
    return load_settings(ScoringSettings, SERVICE)
