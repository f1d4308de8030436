"""ID token validation (OpenID Connect Core 1.0, section 3.1.3.7), as pure functions.

The algorithm is never taken on trust from the token header: it must be in the IdP's advertised
set intersected with an allow-list of asymmetric algorithms, so ``none`` and HMAC signed with
a public key are refused before any key is touched.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

import jwt

from app.crypto import SIGNATURE_ONLY, same_secret
from app.crypto import audiences as audiences_of
from app.errors import LoginError
from app.oidc.metadata import ASYMMETRIC_ALGORITHMS, SigningKey

MAX_CLOCK_SKEW_SECONDS = 120
_AT_HASH_DIGESTS = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}


class IdTokenError(LoginError):
    code = "id_token_invalid"


class UnknownSigningKeyError(IdTokenError):
    """The token names a key the cached JWKS does not have: refresh once, then fail."""


def select_key(header: dict[str, Any], keys: Sequence[SigningKey]) -> SigningKey:
    kid = header.get("kid")
    if kid is None:
        # No kid is allowed only when the choice is unambiguous (Core 10.1).
        if len(keys) == 1:
            return keys[0]
        raise IdTokenError("the ID token names no key and the provider has several")
    for key in keys:
        if key.key_id == kid:
            return key
    raise UnknownSigningKeyError("the ID token is signed with an unknown key")


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise IdTokenError(f"the ID token has no {name}")
    return float(value)


def token_hash(value: str, algorithm: str) -> str:
    """at_hash / c_hash: base64url of the left half of the hash the JWS algorithm uses."""
    digest = hashlib.sha512 if algorithm == "EdDSA" else _AT_HASH_DIGESTS[algorithm[-3:]]
    full = digest(value.encode("utf-8", "surrogatepass")).digest()
    return base64.urlsafe_b64encode(full[: len(full) // 2]).rstrip(b"=").decode("ascii")


def validate_id_token(
    token: str,
    *,
    keys: Sequence[SigningKey],
    issuers: Collection[str],
    client_id: str,
    nonce: str,
    allowed_algorithms: Collection[str],
    access_token: str | None = None,
    require_token_use: str | None = None,
    now: datetime | None = None,
    max_skew: int = MAX_CLOCK_SKEW_SECONDS,
) -> dict[str, Any]:
    """Verify signature and claims; return the claims. Raises ``IdTokenError``."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise IdTokenError("the ID token is malformed") from e
    algorithm = header.get("alg")
    permitted = ASYMMETRIC_ALGORITHMS & set(allowed_algorithms)
    if not isinstance(algorithm, str) or algorithm not in permitted:
        raise IdTokenError(f"the ID token algorithm {algorithm!r} is not accepted")
    key = select_key(header, keys)
    if key.algorithm is not None and key.algorithm != algorithm:
        raise IdTokenError("the ID token algorithm does not fit its key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[algorithm],
            options=SIGNATURE_ONLY,
        )
    except jwt.InvalidSignatureError as e:
        raise IdTokenError("the ID token signature is invalid") from e
    except (jwt.InvalidTokenError, jwt.InvalidKeyError) as e:
        raise IdTokenError("the ID token could not be verified") from e

    if claims.get("iss") not in issuers:
        raise IdTokenError("the ID token was issued by another issuer")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise IdTokenError("the ID token has no subject")
    audiences = audiences_of(claims.get("aud"))
    if not audiences:
        raise IdTokenError("the ID token has no audience")
    if client_id not in audiences:
        raise IdTokenError("the ID token is for another client")
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != client_id:
        raise IdTokenError("the ID token's authorized party is another client")

    current = (now or datetime.now(UTC)).timestamp()
    if current > _number(claims, "exp") + max_skew:
        raise IdTokenError("the ID token has expired")
    if _number(claims, "iat") > current + max_skew:
        raise IdTokenError("the ID token was issued in the future")
    # Core does not define nbf for ID tokens, but a JWT that carries one must not be accepted
    # before it (RFC 7519, 4.1.5).
    if "nbf" in claims and _number(claims, "nbf") > current + max_skew:
        raise IdTokenError("the ID token is not valid yet")

    token_nonce = claims.get("nonce")
    if not isinstance(token_nonce, str) or not same_secret(token_nonce, nonce):
        raise IdTokenError("the ID token nonce does not match this login")
    at_hash = claims.get("at_hash")
    if at_hash is not None and access_token is not None:
        expected = token_hash(access_token, algorithm)
        if not isinstance(at_hash, str) or not same_secret(at_hash, expected):
            raise IdTokenError("the ID token's at_hash does not match the access token")
    if require_token_use is not None and claims.get("token_use") != require_token_use:
        # Cognito: an access token is also a JWT signed with the same keys.
        raise IdTokenError("the token is not an ID token")
    return claims
