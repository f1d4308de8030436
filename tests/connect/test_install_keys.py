"""Atlassian's install-signing keys: fetched once per kid, refused however the fetch fails, and
an unknown kid not fetched again for a minute (a flood of forged installs must not become a
flood of requests to Atlassian)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from app.connect.install_keys import InstallKeyStore
from app.errors import InstallKeyError
from tests.support.connect_tokens import InstallSigner

KEYS = "https://keys.example.test"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def cdn() -> AsyncIterator[respx.MockRouter]:
    with respx.mock(base_url=KEYS, assert_all_called=False) as router:
        yield router


async def test_a_key_is_fetched_once_per_kid(
    http: httpx.AsyncClient, cdn: respx.MockRouter
) -> None:
    signer = InstallSigner()
    route = cdn.get(f"/{signer.kid}").respond(200, content=signer.public_pem)
    store = InstallKeyStore(http, keys_url=KEYS + "/")
    first = await store.get(signer.kid)
    assert await store.get(signer.kid) is first
    assert route.call_count == 1


async def test_the_oldest_key_goes_when_the_store_is_full(
    http: httpx.AsyncClient, cdn: respx.MockRouter
) -> None:
    signers = [InstallSigner(kid=f"kid-{n}") for n in range(3)]
    routes = [cdn.get(f"/{s.kid}").respond(200, content=s.public_pem) for s in signers]
    store = InstallKeyStore(http, keys_url=KEYS, max_keys=2)
    for signer in signers:
        await store.get(signer.kid)
    await store.get(signers[0].kid)  # evicted by the third: fetched again
    assert [route.call_count for route in routes] == [2, 1, 1]


async def test_an_unknown_kid_is_not_fetched_again_for_a_while(
    http: httpx.AsyncClient, cdn: respx.MockRouter
) -> None:
    route = cdn.get("/forged-kid").respond(404)
    store = InstallKeyStore(http, keys_url=KEYS)
    for _ in range(5):
        with pytest.raises(InstallKeyError, match="unknown"):
            await store.get("forged-kid")
    assert route.call_count == 1


async def test_the_unknown_kids_memory_is_bounded(
    http: httpx.AsyncClient, cdn: respx.MockRouter
) -> None:
    cdn.get(url__regex=rf"{KEYS}/forged-\d+").respond(404)
    store = InstallKeyStore(http, keys_url=KEYS, max_keys=2)
    for n in range(20):
        with pytest.raises(InstallKeyError):
            await store.get(f"forged-{n}")
    assert store.unknown_kids_held <= 4 * 2


def _ec_public_pem() -> bytes:
    return (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _rsa_1024_public_pem() -> bytes:
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (httpx.Response(503), "could not be fetched"),
        (httpx.Response(200, content=b"<html>maintenance</html>"), "not a valid public key"),
        (httpx.Response(200, content=_ec_public_pem()), "not an RSA key"),
        (httpx.Response(200, content=_rsa_1024_public_pem()), "too short"),
    ],
    ids=["http-503", "not-pem", "ec-key", "rsa-1024"],
)
async def test_a_key_that_cannot_be_used_refuses_the_install(
    http: httpx.AsyncClient, cdn: respx.MockRouter, answer: httpx.Response, reason: str
) -> None:
    route = cdn.get("/some-kid").mock(return_value=answer)
    store = InstallKeyStore(http, keys_url=KEYS)
    with pytest.raises(InstallKeyError, match=reason):
        await store.get("some-kid")
    with pytest.raises(InstallKeyError, match=reason):
        await store.get("some-kid")
    assert route.call_count == 2  # not an unknown kid: tried again at once


async def test_an_unreachable_key_server_refuses_the_install(
    http: httpx.AsyncClient, cdn: respx.MockRouter
) -> None:
    cdn.get("/some-kid").mock(side_effect=httpx.ConnectError("refused"))
    store = InstallKeyStore(http, keys_url=KEYS)
    with pytest.raises(InstallKeyError, match="could not be fetched"):
        await store.get("some-kid")
