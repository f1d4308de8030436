"""Connect JWT: canonical requests, qsh, and the verification of incoming tokens.

Each check is a pure, keyword-only function with an injectable clock (``now=``) so that every
way a token can fail has its own test. Algorithms are pinned per use and never taken from the
token header: RS256 for Atlassian's install tokens (signed-install migration), HS256 with the
tenant's shared secret for everything else.

References: Atlassian "Understanding JWT for Connect apps" (canonical request, qsh) and
"Connect installation lifecycle security improvements" (signed install).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from atlassian_jwt.url_utils import canonicalize_request
from jwt.warnings import InsecureKeyLengthWarning

from app.crypto import SIGNATURE_ONLY, same_secret
from app.errors import AuthenticationError

CONTEXT_QSH = "context-qsh"
INSTALL_ALGORITHM = "RS256"
TENANT_ALGORITHM = "HS256"
# A kid names a key file on Atlassian's CDN; refuse anything that could leave that folder.
_KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class TokenError(AuthenticationError):
    """A token failed verification. The message is a short reason, safe to show."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    issuer: str
    subject: str | None
    claims: dict[str, Any]


def canonical_request(method: str, path: str, query: str = "") -> str:
    """Atlassian's canonical request ``METHOD&path&sorted-query`` (qsh input).

    ``path`` is relative to the base URL (the context path is not part of it); the ``jwt``
    parameter is excluded; ``&`` in the path is encoded as ``%26``.
    """
    url = path if not query else f"{path}?{query}"
    result: str = canonicalize_request(method, url)
    return result


def query_string_hash(method: str, path: str, query: str = "") -> str:
    return hashlib.sha256(canonical_request(method, path, query).encode()).hexdigest()


def relative_path(path: str, base_path: str) -> str:
    """The request path relative to a base URL's path (Connect's 'context path')."""
    base = base_path.rstrip("/")
    if base and (path == base or path.startswith(base + "/")):
        path = path[len(base) :]
    return path or "/"


def _unverified_part(token: str, index: int) -> dict[str, Any]:
    """A JSON object from the token's header (0) or payload (1), not yet verified."""
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenError("malformed token")
    try:
        padded = parts[index] + "=" * (-len(parts[index]) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeEncodeError) as e:
        raise TokenError("malformed token") from e
    if not isinstance(value, dict):
        raise TokenError("malformed token")
    return value


def unverified_issuer(token: str) -> str:
    """Read ``iss`` to find the tenant whose secret verifies the token. Trust nothing else:
    the token is then verified in full with that tenant's secret."""
    claims = _unverified_part(token, 1)
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenError("token has no issuer")
    return issuer


def _header(token: str) -> dict[str, Any]:
    try:
        return jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise TokenError("malformed token") from e


def _timestamp(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def _check_lifetime(claims: dict[str, Any], *, now: datetime | None, leeway: int) -> None:
    current = _timestamp(now).timestamp()
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or isinstance(exp, bool):
        raise TokenError("token has no expiry")
    if current > exp + leeway:
        raise TokenError("token has expired")
    if "nbf" not in claims:
        return
    nbf = claims["nbf"]
    if not isinstance(nbf, int | float) or isinstance(nbf, bool):
        # RFC 7519, 4.1.5: a NumericDate; a token whose nbf cannot be read is not trusted.
        raise TokenError("token has a malformed not-before time")
    if current + leeway < nbf:
        raise TokenError("token is not valid yet")


def check_token_lifetime(
    claims: TokenClaims, *, leeway: int = 30, now: datetime | None = None
) -> None:
    """Expiry and not-before again, for a token verified earlier and presented anew."""
    _check_lifetime(claims.claims, now=now, leeway=leeway)


def _require_claims(claims: dict[str, Any], *names: str) -> None:
    for name in names:
        value = claims.get(name)
        if not isinstance(value, str) or not value:
            raise TokenError(f"token has no {name}")


def check_kid(kid: object) -> str:
    if not isinstance(kid, str) or not _KID_PATTERN.fullmatch(kid):
        raise TokenError("install token key id is missing or malformed")
    return kid


def install_token_kid(token: str) -> str:
    """The header checks of an install token, done before any key is fetched."""
    header = _header(token)
    if header.get("alg") != INSTALL_ALGORITHM:
        raise TokenError("install token must be signed with RS256")
    return check_kid(header.get("kid"))


def _check_qsh(claims: dict[str, Any], expected: str) -> None:
    qsh = claims.get("qsh")
    if not isinstance(qsh, str) or not same_secret(qsh, expected):
        raise TokenError("token query string hash does not match the request")


def _audiences(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return list(value)
    return []


def verify_install_token(
    token: str,
    *,
    public_key: Any,
    app_base_url: str,
    client_key: str,
    method: str,
    path: str,
    query: str = "",
    leeway: int = 30,
    now: datetime | None = None,
) -> TokenClaims:
    """Verify an ``installed``/``uninstalled`` token signed by Atlassian (RS256).

    ``aud`` must be our base URL (a string, or the first entry of a list; a trailing slash is
    ignored), ``iss`` the clientKey of the body, ``qsh`` the hash of this very request.
    """
    install_token_kid(token)
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key,
            algorithms=[INSTALL_ALGORITHM],
            options=SIGNATURE_ONLY,
        )
    except jwt.InvalidSignatureError as e:
        raise TokenError("install token signature is invalid") from e
    except jwt.InvalidTokenError as e:
        raise TokenError("install token is invalid") from e
    _check_lifetime(claims, now=now, leeway=leeway)
    _require_claims(claims, "iss", "qsh")

    audiences = _audiences(claims.get("aud"))
    if not audiences or audiences[0].rstrip("/") != app_base_url.rstrip("/"):
        raise TokenError("install token audience is not this app")
    if not same_secret(str(claims["iss"]), client_key):
        raise TokenError("install token issuer does not match the clientKey")
    _check_qsh(claims, query_string_hash(method, path, query))
    return TokenClaims(issuer=claims["iss"], subject=claims.get("sub"), claims=claims)


_HS256_RECOMMENDED_KEY_BYTES = 32


def _decode_hs256(token: str, shared_secret: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token, shared_secret, algorithms=[TENANT_ALGORITHM], options=SIGNATURE_ONLY
    )
    return claims


def verify_tenant_token(
    token: str,
    *,
    shared_secret: str,
    client_key: str,
    expected_qsh: str,
    leeway: int = 30,
    now: datetime | None = None,
) -> TokenClaims:
    """Verify an HS256 token signed with a tenant's shared secret.

    ``expected_qsh`` is the hash of the request for page loads and lifecycle calls, or the
    literal ``context-qsh`` for the admin API, so a page token never works on the API and a
    context token never loads a page.
    """
    # A readable reason early; PyJWT enforces the pinned algorithm again when it verifies.
    if _unverified_part(token, 0).get("alg") != TENANT_ALGORITHM:
        raise TokenError("token must be signed with HS256")
    try:
        if len(shared_secret.encode()) < _HS256_RECOMMENDED_KEY_BYTES:
            with warnings.catch_warnings():
                # Atlassian chooses the shared secret's length, not us (its test vectors use
                # an 18-byte one); a short secret is not a reason to refuse a valid tenant.
                # (Only then: catch_warnings resets the interpreter's warning caches.)
                warnings.simplefilter("ignore", InsecureKeyLengthWarning)
                claims = _decode_hs256(token, shared_secret)
        else:
            claims = _decode_hs256(token, shared_secret)
    except jwt.InvalidSignatureError as e:
        raise TokenError("token signature is invalid") from e
    except jwt.InvalidTokenError as e:
        raise TokenError("token is invalid") from e
    _check_lifetime(claims, now=now, leeway=leeway)
    _require_claims(claims, "iss", "qsh")
    if not same_secret(str(claims["iss"]), client_key):
        raise TokenError("token issuer does not match the tenant")
    _check_qsh(claims, expected_qsh)
    sub = claims.get("sub")
    return TokenClaims(
        issuer=claims["iss"], subject=sub if isinstance(sub, str) else None, claims=claims
    )


def sign_tenant_request(
    *,
    app_key: str,
    client_key: str,
    shared_secret: str,
    method: str,
    path: str,
    query: str = "",
    lifetime_seconds: int = 180,
    now: datetime | None = None,
) -> str:
    """A token for a request from the app to the tenant's Jira (path relative to baseUrl)."""
    issued = int(_timestamp(now).timestamp())
    payload = {
        "iss": app_key,
        "aud": [client_key],
        "iat": issued,
        "exp": issued + lifetime_seconds,
        "qsh": query_string_hash(method, path, query),
    }
    return jwt.encode(payload, shared_secret, algorithm=TENANT_ALGORITHM)
