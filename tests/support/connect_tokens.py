"""Token factories for tests: what Atlassian would send, signed with real keys."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.connect.jwt import CONTEXT_QSH, query_string_hash
from tests.support.keys import rsa_2048


@dataclass
class InstallSigner:
    """Plays Atlassian's install-signing service: an RSA key published under a kid."""

    kid: str = "0e50fccb-239d-4991-a5db-dc850ba3f236"
    private_key: rsa.RSAPrivateKey = field(default_factory=rsa_2048)

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(
        self,
        *,
        client_key: str,
        aud: Any,
        path: str,
        method: str = "POST",
        query: str = "",
        kid: str | None = None,
        **overrides: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": client_key,
            "aud": aud,
            "iat": now,
            "exp": now + 180,
            "qsh": query_string_hash(method, path, query),
            "sub": "connect:installer",
        }
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(
            claims, self.private_key, algorithm="RS256", headers={"kid": kid or self.kid}
        )


def tenant_token(
    *,
    client_key: str,
    secret: str,
    qsh: str = CONTEXT_QSH,
    sub: str | None = "557058:admin-account",
    **overrides: Any,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_key,
        "iat": now,
        "exp": now + 180,
        "qsh": qsh,
        "sub": sub,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm="HS256")


def page_token(*, client_key: str, secret: str, method: str, path: str, query: str = "") -> str:
    return tenant_token(
        client_key=client_key, secret=secret, qsh=query_string_hash(method, path, query)
    )
