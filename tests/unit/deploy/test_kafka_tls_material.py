"""The local cluster's TLS material (deploy/local/kafka_tls.py): a CA and a broker certificate
that a verifying client accepts for 127.0.0.1, kept while valid, renewed before expiry, private
keys readable by the owner only."""

from __future__ import annotations

import datetime as dt
import ssl
import stat

import kafka_tls
from cryptography import x509


def test_the_broker_certificate_is_signed_by_the_ca_for_the_loopback_address(tmp_path) -> None:
    p = kafka_tls.ensure(tmp_path)
    ca = x509.load_pem_x509_certificate(p["ca"].read_bytes())
    broker = x509.load_pem_x509_certificate(p["keystore"].read_bytes())
    broker.verify_directly_issued_by(ca)
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(a) for a in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert b"BEGIN PRIVATE KEY" in p["keystore"].read_bytes()  # PKCS#8, what Kafka's PEM store reads
    for secret in (p["keystore"], p["ca_key"]):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    # what a client does with KAFKA_SSL_CA_FILE: the CA loads into a verifying context
    context = ssl.create_default_context(cafile=str(p["ca"]))
    assert len(context.get_ca_certs()) == 1


def test_valid_material_is_kept_and_the_broker_certificate_renewed_before_expiry(tmp_path) -> None:
    p = kafka_tls.ensure(tmp_path)
    first = {k: p[k].read_bytes() for k in ("ca", "ca_key", "keystore")}
    kafka_tls.ensure(tmp_path)
    assert {k: p[k].read_bytes() for k in first} == first
    kafka_tls.ensure(tmp_path, dt.datetime.now(dt.UTC) + dt.timedelta(days=380))  # 17 days before expiry
    assert p["ca"].read_bytes() == first["ca"]  # clients' copies of the CA stay good
    assert p["keystore"].read_bytes() != first["keystore"]


def test_a_new_ca_reissues_the_broker_certificate(tmp_path) -> None:
    p = kafka_tls.ensure(tmp_path)
    p["ca_key"].unlink()
    kafka_tls.ensure(tmp_path)
    ca = x509.load_pem_x509_certificate(p["ca"].read_bytes())
    x509.load_pem_x509_certificate(p["keystore"].read_bytes()).verify_directly_issued_by(ca)
