from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from shared.reference import Reference
from shared.settings import ServiceSettings, load_settings

SERVICE = "notify"
TEMPLATES = Path(__file__).parent / "templates"


class NotifySettings(ServiceSettings):
    # Channels. The defaults are the local SMTP sink and SMS gateway that `make up` starts, so the
    # service works with only .local/credentials.env loaded.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_start_tls: bool = False
    smtp_timeout_s: float = 10.0
    # NOTIFY_MAIL_FROM: the e-mails' sender; unset (or empty), the street's own from its reference data
    # (`mail_from` below): "平湖街道学习型街道 <learning@pinghu.example>" for reference/pinghu.
    mail_from: str | None = None
    mail_domain: str = "notify.learnstreet.local"  # right-hand side of Message-IDs
    sms_url: str = "http://127.0.0.1:8105/v1/messages"
    sms_token: SecretStr = SecretStr("local-sms-token")
    sms_timeout_s: float = 5.0
    # "generic": the text to an HTTP gateway (sms_url). "carrier": a template code, its parameters
    # and the signature, as Chinese carriers take SMS (adapters/carrier_sms.py; ADR 0018).
    sms_provider: Literal["generic", "carrier"] = "generic"
    sms_carrier_url: str = "http://127.0.0.1:8105/carrier/SendSms"
    sms_carrier_key: SecretStr = SecretStr("local-sms-token")
    # The templates registered with the carrier; default: sms_templates.yaml in LS_REFERENCE_DIR.
    sms_templates: Path | None = None
    # Street-wide defaults; a resident's contact may carry their own quiet hours.
    timezone: str = "Asia/Shanghai"
    quiet_hours_start: str = "22:00"
    quiet_hours_end: str = "08:00"
    # Delivery: 8 attempts with base 15 s span about 30 minutes.
    max_attempts: int = 8
    retry_base_s: float = 15.0
    retry_cap_s: float = 600.0
    contact_wait_s: float = 3600.0
    # How long a message waits for the catalogue event naming its course, venue or session (another
    # topic, in any order): then it goes with words like "your course" instead of the name.
    catalogue_wait_s: float = 600.0
    lease_s: float = 120.0
    worker_batch: int = 50
    worker_poll_s: float = 1.0
    send_concurrency: int = 8
    # Broadcasts are spread out at this many messages per second, leaving the channels room for the
    # transactional messages (confirmations, reminders) due meanwhile.
    broadcast_rate_per_s: float = 200.0
    templates_dir: Path = TEMPLATES
    # Crash tests only: when set to a resident id, bootstrap installs adapters/faults.py, which kills
    # the process right after a channel accepted a message for that resident, before it is recorded.
    fault_crash_after_send: str | None = None


def mail_from(settings: NotifySettings, reference: Reference) -> str:
    """The sender of notify's e-mails: NOTIFY_MAIL_FROM when given, else the street's name (zh-CN, as
    its residents know it) at `learning@<street id>.example`."""
    if settings.mail_from and settings.mail_from.strip():
        return settings.mail_from.strip()
    street = reference.street
    return f"{street.name_zh}学习型街道 <learning@{street.id}.example>"


def settings() -> NotifySettings:
    return load_settings(NotifySettings, SERVICE)
