"""Discovery and JWKS: every way an IdP's metadata can be unusable is refused with its reason;
endpoints must use https; unusable keys are skipped; a forced key refresh is rate-limited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from cryptography.hazmat.primitives.asymmetric import rsa

from app.errors import IdentityProviderError
from app.models import IdentityProvider
from app.oidc.metadata import MetadataCache, parse_jwks, resolve_metadata
from tests.support.hostile_op import HostileOP, SigningKeyPair

ISSUER = "https://op.example.test"


def _rsa(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@pytest.fixture
async def cache() -> AsyncIterator[MetadataCache]:
    async with httpx.AsyncClient() as http:
        yield MetadataCache(http, allow_http_loopback=False)


@pytest.fixture
def net() -> AsyncIterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router


def oidc_idp() -> IdentityProvider:
    return IdentityProvider(preset="oidc", settings={"issuer": ISSUER}, client_id="c")


def serve_discovery(net: respx.MockRouter, **changes: Any) -> None:
    document: dict[str, Any] = HostileOP(issuer=ISSUER).discovery_document()
    for name, value in changes.items():
        if value is None:
            document.pop(name, None)
        else:
            document[name] = value
    net.get(f"{ISSUER}/.well-known/openid-configuration").respond(200, json=document)


async def test_a_usable_discovery_document_gives_the_endpoints_and_asymmetric_algorithms(
    cache: MetadataCache, net: respx.MockRouter
) -> None:
    serve_discovery(net)
    metadata = await resolve_metadata(oidc_idp(), cache)
    assert metadata.token_endpoint == f"{ISSUER}/token"
    assert metadata.jwks_uri == f"{ISSUER}/jwks"
    # The document also advertises "none" and HS256: never accepted for ID tokens.
    assert metadata.id_token_algorithms == frozenset({"RS256"})


@pytest.mark.parametrize(
    "endpoint",
    [
        "authorization_endpoint",
        "token_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
        "end_session_endpoint",
    ],
)
async def test_a_plain_http_endpoint_in_discovery_is_refused(
    cache: MetadataCache, net: respx.MockRouter, endpoint: str
) -> None:
    serve_discovery(net, **{endpoint: "http://op.example.test/somewhere"})
    with pytest.raises(IdentityProviderError, match="must use https"):
        await resolve_metadata(oidc_idp(), cache)


@pytest.mark.parametrize("endpoint", ["authorization_endpoint", "token_endpoint", "jwks_uri"])
async def test_a_discovery_document_without_a_required_endpoint_is_refused(
    cache: MetadataCache, net: respx.MockRouter, endpoint: str
) -> None:
    serve_discovery(net, **{endpoint: None})
    with pytest.raises(IdentityProviderError, match=f"has no {endpoint}"):
        await resolve_metadata(oidc_idp(), cache)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(500), "discovery document answered HTTP 500"),
        (httpx.Response(200, text="<html/>"), "discovery document is not JSON"),
        (httpx.Response(200, json=[ISSUER]), "discovery document is not a JSON object"),
    ],
    ids=["http-500", "not-json", "json-not-object"],
)
async def test_an_unusable_discovery_answer_is_refused(
    cache: MetadataCache, net: respx.MockRouter, answer: httpx.Response, reason: str
) -> None:
    net.get(f"{ISSUER}/.well-known/openid-configuration").mock(return_value=answer)
    with pytest.raises(IdentityProviderError, match=reason):
        await cache.discovery(ISSUER)


async def test_an_unreachable_discovery_endpoint_is_refused_and_not_cached(
    cache: MetadataCache, net: respx.MockRouter
) -> None:
    route = net.get(f"{ISSUER}/.well-known/openid-configuration")
    route.mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(IdentityProviderError, match="discovery document is not reachable"):
        await cache.discovery(ISSUER)
    route.mock(side_effect=None, return_value=httpx.Response(200, json={"issuer": ISSUER}))
    assert (await cache.discovery(ISSUER))["issuer"] == ISSUER


async def test_a_key_set_without_keys_is_refused(
    cache: MetadataCache, net: respx.MockRouter
) -> None:
    net.get(f"{ISSUER}/jwks").respond(200, json={"keys": "none"})
    with pytest.raises(IdentityProviderError, match="has no keys"):
        await cache.signing_keys(f"{ISSUER}/jwks")


def test_only_usable_signing_keys_are_taken_from_a_key_set() -> None:
    good = SigningKeyPair(kid="good").jwk()
    keys = parse_jwks(
        {
            "keys": [
                {**SigningKeyPair(kid="enc").jwk(), "use": "enc"},
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
                {"kty": "RSA", "kid": "broken", "n": "not-base64!", "e": "AQAB"},
                SigningKeyPair(kid="weak", private_key=_rsa(1024)).jwk(),
                "not an object",
                good,
            ]
        }
    )
    assert [(key.key_id, key.algorithm) for key in keys] == [("good", "RS256")]


async def test_a_forced_key_refresh_happens_at_most_once_per_interval(
    cache: MetadataCache, net: respx.MockRouter
) -> None:
    route = net.get(f"{ISSUER}/jwks").respond(200, json={"keys": [SigningKeyPair(kid="k1").jwk()]})
    await cache.signing_keys(f"{ISSUER}/jwks")
    for _ in range(5):  # a flood of tokens naming unknown kids
        await cache.signing_keys(f"{ISSUER}/jwks", force=True)
    assert route.call_count == 2


async def test_the_caches_keep_a_bounded_number_of_urls(net: respx.MockRouter) -> None:
    """Every IdP URL any site's admin saves or tests is fetched once and cached: a process
    that kept them all would grow for as long as it runs."""
    cache = MetadataCache(httpx.AsyncClient(), allow_http_loopback=False, max_entries=10)
    for n in range(25):
        issuer = f"https://idp{n}.example.com"
        net.get(f"{issuer}/.well-known/openid-configuration").respond(
            200, json={"issuer": issuer, "jwks_uri": f"{issuer}/jwks"}
        )
        net.get(f"{issuer}/jwks").respond(200, json={"keys": [SigningKeyPair(kid="k").jwk()]})
        await cache.discovery(issuer)
        await cache.signing_keys(f"{issuer}/jwks", force=True)
    assert all(count <= 10 for count in cache.entry_counts())
    assert cache.holds_keys("https://idp24.example.com/jwks")  # the newest stay
