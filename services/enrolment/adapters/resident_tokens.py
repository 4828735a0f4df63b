"""The resident sign-in issuer's key: an ES256 (P-256) private key in a PEM file made at set-up
(deploy/local/credentials.py; a deployment mounts its secret), apart from the Open Badges keys.
Tokens are signed here and the public half is published as this issuer's JWKS, which every
service reads through shared/http/oidc.py like any identity provider's."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ALGORITHM = "ES256"


def _thumbprint(public_jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint: the same key always gets the same kid, on every instance."""
    canonical = json.dumps({k: public_jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


class ResidentTokenSigner:
    def __init__(self, private_key: ec.EllipticCurvePrivateKey, issuer: str, audiences: tuple[str, ...]) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or private_key.curve.name != "secp256r1":
            raise ValueError("the resident sign-in key must be an EC P-256 private key (ES256)")
        self._key = private_key
        self.issuer = issuer.rstrip("/")
        self.audiences = audiences
        jwk = json.loads(ECAlgorithm(ECAlgorithm.SHA256).to_jwk(private_key.public_key()))
        self.kid = _thumbprint(jwk)
        self.public_jwk = {**jwk, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}

    @classmethod
    def from_file(cls, path: str | Path, issuer: str, audiences: tuple[str, ...]) -> ResidentTokenSigner:
        try:
            pem = Path(path).read_bytes()
        except OSError as e:
            raise ValueError(f"cannot read the resident sign-in key {path}: {e.strerror}") from None
        key = serialization.load_pem_private_key(pem, password=None)
        return cls(key, issuer, audiences)  # type: ignore[arg-type]

    def sign(self, resident_id: str, ttl_s: int, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "iss": self.issuer,
            "aud": list(self.audiences),
            "sub": resident_id,
            "learnstreet_id": resident_id,
            "roles": ["resident"],
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM, headers={"kid": self.kid})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk]}

    def discovery(self, jwks_uri: str) -> dict[str, Any]:
        """The part of OpenID Connect discovery a verifier needs: no authorization endpoint, since
        codes are asked for at POST /v1/sign-in/code, not by redirect."""
        return {
            "issuer": self.issuer,
            "jwks_uri": jwks_uri,
            "id_token_signing_alg_values_supported": [ALGORITHM],
            "token_endpoint": f"{self.issuer}/v1/sign-in/token",
            "subject_types_supported": ["public"],
            "claims_supported": ["iss", "aud", "sub", "learnstreet_id", "roles", "iat", "nbf", "exp"],
        }


def new_private_key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
