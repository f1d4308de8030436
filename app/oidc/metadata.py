"""Provider metadata (endpoints, issuer, keys) with discovery and JWKS caches.

Discovery documents and JWKS are cached for hours, so a login makes no discovery or JWKS call
on the hot path. A token signed with a key we have not seen triggers one forced JWKS refresh,
at most once per ``FORCED_REFRESH_INTERVAL`` per JWKS URL (a flood of forged kids cannot turn
into a flood of requests to the IdP).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from app.bounded import put_bounded
from app.crypto import MIN_RSA_KEY_BITS
from app.errors import IdentityProviderError
from app.idps.presets import DISCOVERY_SUFFIX, PRESETS, cognito_issuer, endpoint_origin
from app.models import IdentityProvider
from app.outbound import ResponseTooLargeError, refused_address
from app.urls import secure_endpoint_error

CACHE_TTL_SECONDS = 6 * 3600.0
FORCED_REFRESH_INTERVAL = 30.0
# Per map. Entries expire only when looked up again, and every IdP URL an admin of any site
# saves or tests adds one: without a bound, a process would keep all it ever fetched.
MAX_ENTRIES = 5000
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    kind: str
    issuer: str | None
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    jwks_uri: str | None
    end_session_endpoint: str | None = None
    id_token_algorithms: frozenset[str] = ASYMMETRIC_ALGORITHMS
    iss_parameter_supported: bool = False
    # Cognito with a pool id: the pool may use the original or the updated issuer host.
    accepted_issuers: frozenset[str] = frozenset()

    def issuers(self) -> frozenset[str]:
        if self.accepted_issuers:
            return self.accepted_issuers
        return frozenset({self.issuer}) if self.issuer else frozenset()


class _Entry(NamedTuple):
    expires: float  # first, as put_bounded expects
    value: Any


def unreachable(what: str, error: httpx.HTTPError) -> IdentityProviderError:
    """Why a call to one of the IdP's endpoints failed, in words for the admin: the address
    policy's refusal is named (no retry can help), anything else is "not reachable"."""
    if refused_address(error):
        return IdentityProviderError(
            f"the identity provider's {what} is not on the public internet, and this "
            "service calls public addresses only"
        )
    if isinstance(error, ResponseTooLargeError):
        return IdentityProviderError(
            f"the identity provider's {what} sent an answer larger than this service accepts"
        )
    return IdentityProviderError(f"the identity provider's {what} is not reachable")


class MetadataCache:
    """Per-process cache of discovery documents and key sets (each instance fills its own;
    keys are public and refreshed on an unknown kid, so instances need not agree)."""

    def __init__(
        self, http: httpx.AsyncClient, *, allow_http_loopback: bool, max_entries: int = MAX_ENTRIES
    ) -> None:
        self._http = http
        self._max_entries = max_entries
        self.allow_http_loopback = allow_http_loopback
        self._documents: dict[str, _Entry] = {}
        self._jwks: dict[str, _Entry] = {}
        self._forced: dict[str, tuple[float]] = {}
        self.hits = 0
        self.misses = 0

    def entry_counts(self) -> tuple[int, int, int]:
        """(discovery documents, key sets, forced-refresh marks) held: bounded."""
        return len(self._documents), len(self._jwks), len(self._forced)

    def holds_keys(self, jwks_uri: str) -> bool:
        return jwks_uri in self._jwks

    def check_endpoint(self, url: str, what: str) -> None:
        reason = secure_endpoint_error(url, allow_http_loopback=self.allow_http_loopback)
        if reason is not None:
            raise IdentityProviderError(f"the identity provider's {what} {reason}")

    async def _get_json(self, url: str, what: str) -> dict[str, Any]:
        self.check_endpoint(url, what)
        try:
            response = await self._http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise unreachable(what, e) from e
        if response.status_code != 200:
            raise IdentityProviderError(
                f"the identity provider's {what} answered HTTP {response.status_code}"
            )
        try:
            document = response.json()
        except ValueError as e:
            raise IdentityProviderError(f"the identity provider's {what} is not JSON") from e
        if not isinstance(document, dict):
            raise IdentityProviderError(f"the identity provider's {what} is not a JSON object")
        return document

    async def discovery(self, issuer: str) -> dict[str, Any]:
        url = issuer.rstrip("/") + DISCOVERY_SUFFIX
        entry = self._documents.get(url)
        if entry is not None and entry.expires > time.monotonic():
            self.hits += 1
            return dict(entry.value)
        self.misses += 1
        document = await self._get_json(url, "discovery document")
        # OpenID Connect Discovery 1.0 section 4.3: the issuer must be exactly the one used.
        if document.get("issuer") != issuer:
            raise IdentityProviderError(
                f"the discovery document's issuer {document.get('issuer')!r} does not match "
                f"the configured issuer {issuer!r}"
            )
        put_bounded(
            self._documents,
            url,
            _Entry(expires=time.monotonic() + CACHE_TTL_SECONDS, value=document),
            max_entries=self._max_entries,
        )
        return dict(document)

    async def signing_keys(self, jwks_uri: str, *, force: bool = False) -> list[SigningKey]:
        now = time.monotonic()
        entry = self._jwks.get(jwks_uri)
        if entry is not None and entry.expires > now and not force:
            self.hits += 1
            return list(entry.value)
        if force and entry is not None and now < self._forced.get(jwks_uri, (0.0,))[0]:
            return list(entry.value)
        if force:
            # Until when the next forced refresh waits.
            put_bounded(
                self._forced,
                jwks_uri,
                (now + FORCED_REFRESH_INTERVAL,),
                max_entries=self._max_entries,
            )
        self.misses += 1
        document = await self._get_json(jwks_uri, "key set (JWKS)")
        keys = parse_jwks(document)
        put_bounded(
            self._jwks,
            jwks_uri,
            _Entry(expires=now + CACHE_TTL_SECONDS, value=keys),
            max_entries=self._max_entries,
        )
        return list(keys)

    async def metadata(self, idp: IdentityProvider) -> ProviderMetadata:
        return await resolve_metadata(idp, self)


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str | None
    algorithm: str | None  # the JWK's own "alg", when it declares one
    key: Any


def parse_jwks(document: Mapping[str, Any]) -> list[SigningKey]:
    """Signing keys of a JWKS; encryption keys, symmetric keys, RSA keys too short to trust and
    unusable ones are skipped (a token signed with a skipped key then names an unknown key)."""
    raw_keys = document.get("keys")
    if not isinstance(raw_keys, list):
        raise IdentityProviderError("the identity provider's key set (JWKS) has no keys")
    keys: list[SigningKey] = []
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
            continue
        try:
            parsed = jwt.PyJWK(raw)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if isinstance(parsed.key, RSAPublicKey) and parsed.key.key_size < MIN_RSA_KEY_BITS:
            continue
        kid, alg = raw.get("kid"), raw.get("alg")
        keys.append(
            SigningKey(
                key_id=kid if isinstance(kid, str) else None,
                algorithm=alg if isinstance(alg, str) else None,
                key=parsed.key,
            )
        )
    return keys


async def resolve_metadata(idp: IdentityProvider, cache: MetadataCache) -> ProviderMetadata:
    preset = PRESETS[idp.preset]
    values: dict[str, str] = {k: str(v) for k, v in (idp.settings or {}).items() if v}
    if preset.kind == "cognito":
        origin = endpoint_origin(values["domain"], allow_http_loopback=cache.allow_http_loopback)
        issuer = idp.pinned_issuer or cognito_issuer(values)
        accepted: frozenset[str] = frozenset()
        if issuer and not idp.pinned_issuer and not values.get("issuer"):
            # From a pool id: AWS serves the pool under its original or its updated host.
            accepted = frozenset(
                {issuer, issuer.replace("://cognito-idp.", "://issuer-cognito-idp.")}
            )
        jwks_uri = idp.pinned_jwks_uri or (f"{issuer}/.well-known/jwks.json" if issuer else None)
        return ProviderMetadata(
            kind="cognito",
            issuer=issuer,
            authorization_endpoint=f"{origin}/oauth2/authorize",
            token_endpoint=f"{origin}/oauth2/token",
            userinfo_endpoint=f"{origin}/oauth2/userInfo",
            jwks_uri=jwks_uri,
            end_session_endpoint=f"{origin}/logout",
            id_token_algorithms=frozenset({"RS256"}),
            accepted_issuers=accepted,
        )
    if preset.kind == "oauth2":
        for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint"):
            cache.check_endpoint(values[name], name.replace("_", " "))
        return ProviderMetadata(
            kind="oauth2",
            issuer=preset.issuer(values),
            authorization_endpoint=values["authorization_endpoint"],
            token_endpoint=values["token_endpoint"],
            userinfo_endpoint=values["userinfo_endpoint"],
            jwks_uri=None,
        )
    issuer = preset.issuer(values)
    if not issuer:
        raise IdentityProviderError("the identity provider has no issuer configured")
    document = await cache.discovery(issuer)
    endpoints: dict[str, str | None] = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str):
            raise IdentityProviderError(f"the discovery document has no {name}")
        cache.check_endpoint(value, name.replace("_", " "))
        endpoints[name] = value
    for name in ("userinfo_endpoint", "end_session_endpoint"):
        value = document.get(name)
        if isinstance(value, str):
            cache.check_endpoint(value, name.replace("_", " "))
            endpoints[name] = value
        else:
            endpoints[name] = None
    advertised = document.get("id_token_signing_alg_values_supported")
    algorithms = ASYMMETRIC_ALGORITHMS
    if isinstance(advertised, list):
        algorithms = ASYMMETRIC_ALGORITHMS & {a for a in advertised if isinstance(a, str)}
    return ProviderMetadata(
        kind="oidc",
        issuer=issuer,
        authorization_endpoint=str(endpoints["authorization_endpoint"]),
        token_endpoint=str(endpoints["token_endpoint"]),
        userinfo_endpoint=endpoints["userinfo_endpoint"],
        jwks_uri=endpoints["jwks_uri"],
        end_session_endpoint=endpoints["end_session_endpoint"],
        id_token_algorithms=algorithms,
        iss_parameter_supported=document.get("authorization_response_iss_parameter_supported")
        is True,
    )
