from shared.settings import ServiceSettings, load_settings

SERVICE = "notify"


class NotifySettings(ServiceSettings):
    pass


def settings() -> NotifySettings:
    return load_settings(NotifySettings, SERVICE)
