"""How provisioning connects as the admin (deploy/local/kafka_admin.py): any security protocol
learnstreet supports, a one-line refusal for settings that cannot work."""

from __future__ import annotations

import ssl

import kafka_admin
import pytest

BASE = {"KAFKA_BOOTSTRAP": "k1:9093,k2:9093", "KAFKA_ADMIN_USERNAME": "admin", "KAFKA_ADMIN_PASSWORD": "pw"}


def test_the_local_stack_connects_with_scram_over_plaintext() -> None:
    conn = kafka_admin.AdminConnection.from_values(BASE)
    assert conn.aiokafka_kwargs() == {
        "bootstrap_servers": "k1:9093,k2:9093", "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "admin", "sasl_plain_password": "pw",
    }  # fmt: skip
    config = conn.confluent_config()
    assert (config["security.protocol"], config["sasl.mechanisms"], config["sasl.username"]) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-512", "admin",
    )  # fmt: skip
    assert "ssl.ca.location" not in config


def test_production_connects_over_tls_with_the_brokers_ca(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(_a_ca_certificate())
    conn = kafka_admin.AdminConnection.from_values(
        {**BASE, "KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SSL_CA_FILE": str(ca)}
    )
    assert conn.protocol == "SASL_SSL"
    assert conn.confluent_config()["ssl.ca.location"] == str(ca)
    kwargs = conn.aiokafka_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL" and isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert kwargs["ssl_context"].verify_mode == ssl.CERT_REQUIRED and kwargs["ssl_context"].check_hostname
    # without a CA file: the system's trust store
    assert kafka_admin.AdminConnection.from_values({**BASE, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}).ca_file is None


def test_a_kiosk_or_service_principal_reaches_the_same_cluster_the_same_way(tmp_path) -> None:
    conn = kafka_admin.AdminConnection.from_values({**BASE, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    kiosk = conn.as_user("kiosk.k1", "secret").aiokafka_kwargs()
    assert (kiosk["sasl_plain_username"], kiosk["sasl_plain_password"], kiosk["security_protocol"]) == (
        "kiosk.k1", "secret", "SASL_SSL",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({**BASE, "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "use SASL_PLAINTEXT or SASL_SSL"),
        ({**BASE, "KAFKA_SECURITY_PROTOCOL": "SSL"}, "use SASL_PLAINTEXT or SASL_SSL"),
        ({**BASE, "KAFKA_SSL_CA_FILE": "/etc/hosts"}, "set SASL_SSL"),
        ({**BASE, "KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SSL_CA_FILE": "/nonexistent/ca.pem"}, "no such file"),
        ({k: v for k, v in BASE.items() if k != "KAFKA_ADMIN_PASSWORD"}, "KAFKA_ADMIN_PASSWORD not set"),
        ({**BASE, "KAFKA_BOOTSTRAP": ""}, "KAFKA_BOOTSTRAP not set"),
    ],
)
def test_settings_that_cannot_work_are_refused_in_one_line(values, says) -> None:
    with pytest.raises(kafka_admin.AdminSettingsError) as refused:
        kafka_admin.AdminConnection.from_values(values)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_acls_become_allow_bindings_for_any_host() -> None:
    from confluent_kafka.admin import AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    b = kafka_admin.binding("scoring", ("GROUP", "learnstreet.scoring", "PREFIXED", "READ"))
    assert (b.restype, b.name, b.resource_pattern_type, b.principal, b.host, b.operation, b.permission_type) == (
        ResourceType.GROUP, "learnstreet.scoring", ResourcePatternType.PREFIXED, "User:scoring", "*",
        AclOperation.READ, AclPermissionType.ALLOW,
    )  # fmt: skip


def _a_ca_certificate() -> str:
    """Any PEM certificate will do for building a context: the system bundle's first one."""
    paths = ssl.get_default_verify_paths()
    for candidate in (paths.cafile, "/etc/ssl/certs/ca-certificates.crt"):
        if candidate:
            try:
                text = open(candidate, encoding="ascii").read()
            except OSError:
                continue
            end = text.index("-----END CERTIFICATE-----") + len("-----END CERTIFICATE-----")
            return text[text.index("-----BEGIN CERTIFICATE-----") : end] + "\n"
    raise AssertionError("no CA bundle on this machine to borrow a certificate from")


class _Done:
    def __init__(self, value=None) -> None:
        self.value = value

    def result(self, timeout=None):
        return self.value


class _RecordingAdmin:
    """Stands in for confluent-kafka's AdminClient: records what would be sent to the cluster."""

    def __init__(self) -> None:
        self.scram: list = []
        self.acl_filters: list = []

    def alter_user_scram_credentials(self, alterations):
        self.scram.extend(alterations)
        return {a.user: _Done() for a in alterations}

    def describe_user_scram_credentials(self, users):
        return {u: _Done() for u in users}

    def delete_acls(self, filters):
        self.acl_filters.extend(filters)
        return {f: _Done([]) for f in filters}


def test_revoking_a_principal_never_deletes_a_scram_credential() -> None:
    """Kafka 4.1 (KRaft) refuses every SCRAM login after a restart once its metadata log holds a
    RemoveUserScramCredentialRecord: the chaos run's Kafka restart, after the suite had removed its
    test kiosks, left no service able to sign in. Revoking replaces the secret instead."""
    from confluent_kafka.admin import UserScramCredentialDeletion, UserScramCredentialUpsertion

    admin = _RecordingAdmin()
    kafka_admin.revoke_users(admin, ["kiosk.k1", "kiosk.k2"])
    assert not any(isinstance(a, UserScramCredentialDeletion) for a in admin.scram)
    assert {a.user for a in admin.scram if isinstance(a, UserScramCredentialUpsertion)} == {"kiosk.k1", "kiosk.k2"}
    secrets = {a.password for a in admin.scram}
    assert len(secrets) == 2 and all(len(s) >= 32 for s in secrets)  # a fresh secret each, held by nobody
    assert {f.principal for f in admin.acl_filters} == {"User:kiosk.k1", "User:kiosk.k2"}
