from pydantic import AliasChoices, Field, SecretStr, field_validator

from shared.events.topics import CONTACTS
from shared.http.cors import origin_of
from shared.settings import ServiceSettings, load_settings

SERVICE = "enrolment"


CONTACTS_LAG_MS = int(CONTACTS.config["max.compaction.lag.ms"])


class EnrolmentSettings(ServiceSettings):
    # The runtime's pool serves the consumers, the outbox relay and readiness only: the HTTP API
    # has its own (adapters/api_pool.py). On 2 cores more connections than runnable backends only
    # add context switches and lock queueing inside PostgreSQL; requests beyond the pool wait in
    # the pool's queue (cheap) rather than on the session's row lock (a backend each).
    db_pool_min: int = 2
    db_pool_max: int = 6
    api_pool_size: int = 10
    # The street's learning-credits rule (ENROLMENT_CREDITS_FILE); default: credits.yaml of the
    # reference folder (LS_REFERENCE_DIR).
    # ENROLMENT_PASSPORT_CHECKPOINT_INTERVAL_SECONDS: the passports' checkpoint (the copy
    # `rebuild-passports --from-checkpoint` starts from, ADR 0010) is taken again once older than
    # this; 0: only by the operator's command.
    passport_checkpoint_interval_seconds: float = Field(86_400.0, ge=0)
    # ENROLMENT_CONTACTS_ROLL_EVERY_S: every partition of enrolment.contacts gets an append this often,
    # so that Kafka rolls it and compacts an erased contact away (adapters/contacts_roll.py): half of
    # the topic's max.compaction.lag.ms; 0: off.
    contacts_roll_every_s: float = Field(CONTACTS_LAG_MS / 2000, ge=0)
    credits_file: str | None = None
    # The street's secret for the verification codes of certificates of learning (学习证明);
    # unset: derived from LS_JWT_SECRET (services/enrolment/service_layer/passport.py).
    certificate_secret: SecretStr | None = Field(None, validation_alias=AliasChoices("LS_CERTIFICATE_SECRET"))
    # Verifiable honours (docs/decisions/0012-open-badges.md). Where verifiers reach this service:
    # the issuer id, key set and status lists of every credential are under it, so it is fixed
    # when the first credential is issued (unset: http://<http_host>:<http_port>).
    credentials_base_url: str | None = None
    # The street's secret sealing its signing keys and making residents' pseudonyms; unset:
    # derived from LS_JWT_SECRET (changing it seals a new key; older credentials keep verifying).
    credentials_secret: SecretStr | None = Field(None, validation_alias=AliasChoices("LS_CREDENTIALS_SECRET"))
    # Residents' sign-in with an SMS code (docs/decisions/0017-resident-sign-in.md). The ES256 key
    # that signs resident tokens (a PEM file; unset: sign-in answers 503), the issuer they name
    # (the street-wide LS_RESIDENT_ISSUER every service trusts; unset: http://<http_host>:<http_port>)
    # and the audiences: every service's.
    sign_in_key_file: str | None = None
    resident_issuer: str | None = Field(None, validation_alias=AliasChoices("LS_RESIDENT_ISSUER"))
    sign_in_audiences: str = "learnstreet-activities,learnstreet-enrolment,learnstreet-scoring,learnstreet-notify"
    # The key of the phones' and codes' hashes; unset: derived from LS_JWT_SECRET.
    sign_in_secret: SecretStr | None = None
    sign_in_token_ttl_s: int = Field(900, gt=0, le=3600)
    sign_in_code_ttl_s: int = Field(300, gt=0, le=900)
    sign_in_phone_interval_s: int = Field(60, ge=0)
    sign_in_phone_per_hour: int = Field(5, gt=0)
    sign_in_ip_per_hour: int = Field(20, gt=0)
    sign_in_max_attempts: int = Field(5, gt=0)
    # Consent decisions (ADR 0019, amendment): at most this many changes of one purpose per resident
    # within an hour; beyond it an agreement answers 429 (a withdrawal is always recorded).
    consent_changes_per_hour: int = Field(20, gt=0, le=1000)
    # Where residents' browsers reach the activities API (ENROLMENT_ACTIVITIES_PUBLIC_URL, e.g.
    # http://127.0.0.1:8101): the phone page lists and answers surveys and rates sessions there, and
    # its Content-Security-Policy lets it connect to that origin only besides its own. Unset: the
    # page has no surveys tab. Activities must admit the page's origin (ACTIVITIES_CORS_ORIGINS).
    activities_public_url: str | None = None

    @field_validator("activities_public_url")
    @classmethod
    def _activities_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        origin_of(value)  # start-up fails naming a value that is no http(s) address
        if "?" in value or "#" in value:
            raise ValueError(f"{value!r}: a base address takes no query or fragment")
        return value.strip().rstrip("/")


def settings() -> EnrolmentSettings:
    return load_settings(EnrolmentSettings, SERVICE)
