"""TLS for the local Kafka cluster: a private CA and one broker certificate, made at set-up.

Every local broker also listens with SASL_SSL (SCRAM over TLS) beside its SASL_PLAINTEXT listener,
so the production transport (KAFKA_SECURITY_PROTOCOL=SASL_SSL, KAFKA_SSL_CA_FILE) is exercised here
and not first on the street's cluster. The plaintext listener stays the stack's default: the
services, tests and benchmarks measure what the code costs, not the handshake.

    .local/kafka/tls/ca.pem        the CA certificate (what a client trusts: KAFKA_SSL_CA_FILE)
    .local/kafka/tls/ca.key        its key (mode 600; only re-issuing the broker's certificate needs it)
    .local/kafka/tls/broker.pem    the broker's PKCS#8 key and certificate chain (mode 600), Kafka's
                                   PEM keystore; valid for 127.0.0.1 and localhost

Certificates are made again when missing, unreadable or within 30 days of expiry. A CA made again
invalidates every client's copy of ca.pem, so it is kept as long as it is valid.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

RENEW_BEFORE = dt.timedelta(days=30)
CA_LIFETIME = dt.timedelta(days=3650)
BROKER_LIFETIME = dt.timedelta(days=397)  # the longest a public CA may issue; a habit worth keeping


def paths(kafka_dir: Path) -> dict[str, Path]:
    tls = kafka_dir / "tls"
    return {"dir": tls, "ca": tls / "ca.pem", "ca_key": tls / "ca.key", "keystore": tls / "broker.pem"}


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _fresh(cert_path: Path, now: dt.datetime) -> x509.Certificate | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return None
    return cert if cert.not_valid_after_utc - RENEW_BEFORE > now else None


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _ca(now: dt.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "learnstreet local Kafka CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CA_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _broker(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, now: dt.datetime):
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + BROKER_LIFETIME)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def ensure(kafka_dir: Path, now: dt.datetime | None = None) -> dict[str, Path]:
    """The CA and the broker's keystore, made or renewed as needed; returns their paths. Returns
    with nothing changed when both are valid for more than 30 days."""
    now = now or dt.datetime.now(dt.UTC)
    p = paths(kafka_dir)
    p["dir"].mkdir(parents=True, exist_ok=True)
    ca = _fresh(p["ca"], now)
    ca_key = None
    if ca is not None:
        try:
            ca_key = serialization.load_pem_private_key(p["ca_key"].read_bytes(), password=None)
        except (OSError, ValueError):
            ca = None
    if ca is None or ca_key is None:
        ca, ca_key = _ca(now)
        _write_private(p["ca_key"], _pem_key(ca_key))
        p["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        p["keystore"].unlink(missing_ok=True)  # signed by the old CA
    broker = _fresh(p["keystore"], now)
    if broker is None or broker.issuer != ca.subject or not _signed_by(broker, ca):
        cert, key = _broker(ca, ca_key, now)
        chain = cert.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
        _write_private(p["keystore"], _pem_key(key) + chain)
    return p


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
        return True
    except (ValueError, TypeError, InvalidSignature):
        return False
