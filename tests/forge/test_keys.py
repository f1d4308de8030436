"""Forge's signing keys: every key in the JWKS works at once, an unknown kid refetches the
document at most once a minute, and a key Forge stops publishing stops working."""

from __future__ import annotations

import httpx
import pytest
import respx

from app.forge.keys import REFETCH_SECONDS, ForgeKeys
from app.forge.tokens import InvocationTokenError
from tests.support.forge_platform import JWKS_URL, FakeForge, SigningKey


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def forge(network: respx.MockRouter) -> FakeForge:
    platform = FakeForge(keys=[SigningKey(), SigningKey()])
    platform.mount(network)
    return platform


@pytest.fixture
async def keys(clock: Clock) -> ForgeKeys:
    return ForgeKeys(httpx.AsyncClient(), jwks_url=JWKS_URL, clock=clock)


async def test_a_second_published_key_is_accepted_at_once(
    forge: FakeForge, keys: ForgeKeys
) -> None:
    first = await keys.get(forge.keys[0].kid)
    second = await keys.get(forge.keys[1].kid)
    assert first.public_numbers() == forge.keys[0].private.public_key().public_numbers()
    assert second.public_numbers() == forge.keys[1].private.public_key().public_numbers()
    assert forge.jwks_fetches == 1


async def test_an_unknown_kid_refetches_at_most_once_a_minute(
    forge: FakeForge, keys: ForgeKeys, clock: Clock
) -> None:
    await keys.get(forge.keys[0].kid)
    for _ in range(5):
        with pytest.raises(InvocationTokenError, match="key is unknown"):
            await keys.get("forge/made-up")
    assert forge.jwks_fetches == 1  # the fetch at first use counts as this minute's
    clock.now += REFETCH_SECONDS
    rotated = SigningKey()
    forge.keys.append(rotated)
    assert await keys.get(rotated.kid)
    assert forge.jwks_fetches == 2


async def test_a_key_no_longer_published_stops_working(
    forge: FakeForge, keys: ForgeKeys, clock: Clock
) -> None:
    retired = forge.keys[0]
    await keys.get(retired.kid)
    forge.keys.remove(retired)
    clock.now += REFETCH_SECONDS
    newcomer = SigningKey()
    forge.keys.append(newcomer)
    await keys.get(newcomer.kid)  # the refetch that learns of the rotation
    with pytest.raises(InvocationTokenError, match="key is unknown"):
        await keys.get(retired.kid)


async def test_keys_shorter_than_2048_bits_are_never_used(
    network: respx.MockRouter, keys: ForgeKeys
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    weak = SigningKey(private=rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505 - the point
    network.get(JWKS_URL).respond(200, json={"keys": [weak.jwk()]})
    with pytest.raises(InvocationTokenError, match="key is unknown"):
        await keys.get(weak.kid)


async def test_an_unreachable_jwks_refuses_the_token_without_an_error_page(
    network: respx.MockRouter, keys: ForgeKeys
) -> None:
    network.get(JWKS_URL).mock(side_effect=httpx.ConnectError("down"))
    with pytest.raises(InvocationTokenError) as refused:
        await keys.get("forge/any")
    assert refused.value.status_code == 401
