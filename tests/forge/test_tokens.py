"""Forge Invocation Token verification: one test per way a token can fail, and what a good
one yields. Pure: no app, no network."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import jwt
import pytest

from app.forge.tokens import InvocationTokenError, verify_invocation_token
from tests.support.forge_platform import FakeForge, SigningKey, new_app_id, new_site

HOSTS = ["api.atlassian.com"]


@pytest.fixture
def forge() -> FakeForge:
    return FakeForge()


def verify(forge: FakeForge, token: str, **options: Any) -> Any:
    kwargs: dict[str, Any] = {
        "public_key": forge.key.private.public_key(),
        "app_id": forge.app_id,
        "api_hosts": HOSTS,
    } | options
    return verify_invocation_token(token, **kwargs)


def refused(forge: FakeForge, token: str, reason: str, **options: Any) -> None:
    with pytest.raises(InvocationTokenError) as refusal:
        verify(forge, token, **options)
    assert reason in refusal.value.message
    assert refusal.value.status_code == 401


def test_a_good_token_names_the_installation_site_api_and_user(forge: FakeForge) -> None:
    site = new_site()
    invocation = verify(forge, forge.fit(site, principal="557058:admin"))
    assert invocation.installation_id == site.installation_id
    assert invocation.cloud_id == site.cloud_id
    assert invocation.api_base_url == site.api_base_url
    assert invocation.principal == "557058:admin"
    assert invocation.module_key == "portal-sso-admin"


def test_an_event_token_has_no_principal(forge: FakeForge) -> None:
    assert verify(forge, forge.fit(new_site())).principal is None


def test_a_token_signed_by_another_key(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    refused(forge, forge.sign(claims, key=SigningKey(kid=forge.key.kid)), "signature")


def test_hs256_is_refused_even_with_the_public_key_as_secret(forge: FakeForge) -> None:
    # Algorithm confusion: the public key's PEM used as an HMAC secret.
    claims = forge.fit_claims(new_site())
    token = jwt.encode(claims, "a-secret-of-sufficient-length-for-hs256!", algorithm="HS256")
    refused(forge, token, "RS256")


def test_alg_none_is_refused(forge: FakeForge) -> None:
    token = jwt.encode(forge.fit_claims(new_site()), None, algorithm="none")
    refused(forge, token, "RS256")


def test_a_token_forge_signed_for_another_app(forge: FakeForge) -> None:
    # Forge signs every app's tokens with the same keys: only aud and app.id tell them apart.
    other = FakeForge(app_id=new_app_id(), keys=forge.keys)
    refused(forge, other.fit(new_site()), "another app")


def test_audience_right_but_app_id_of_another_app(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    claims["app"]["id"] = new_app_id()
    refused(forge, forge.sign(claims), "another app")


def test_another_issuer(forge: FakeForge) -> None:
    refused(forge, forge.fit(new_site(), iss="someone-else"), "issuer")


def test_an_expired_token(forge: FakeForge) -> None:
    past = int(time.time()) - 60
    refused(forge, forge.fit(new_site(), exp=past, iat=past - 60, nbf=past - 60), "expired")


def test_expiry_has_ten_seconds_of_leeway(forge: FakeForge) -> None:
    token = forge.fit(new_site(), exp=int(time.time()) - 5)
    assert verify(forge, token).cloud_id


def test_a_token_without_expiry(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    del claims["exp"]
    refused(forge, forge.sign(claims), "no expiry")


def test_a_token_not_valid_yet(forge: FakeForge) -> None:
    refused(forge, forge.fit(new_site(), nbf=int(time.time()) + 60), "not valid yet")


def test_a_token_issued_in_the_future(forge: FakeForge) -> None:
    refused(forge, forge.fit(new_site(), iat=int(time.time()) + 60), "not valid yet")


def test_the_clock_is_injectable(forge: FakeForge) -> None:
    token = forge.fit(new_site())
    later = datetime.fromtimestamp(time.time() + 3600, UTC)
    refused(forge, token, "expired", now=later)


def test_an_api_base_url_on_another_host(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    claims["app"]["apiBaseUrl"] = "https://attacker.example/ex/jira/x"
    refused(forge, forge.sign(claims), "FORGE_API_HOSTS")


def test_an_installation_context_on_another_host(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    claims["app"]["installation"]["contexts"][0]["apiBaseUrl"] = "https://attacker.example/x"
    refused(forge, forge.sign(claims), "FORGE_API_HOSTS")


def test_plain_http_api_base_url_is_refused(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    claims["app"]["apiBaseUrl"] = "http://api.atlassian.com/ex/jira/x"
    refused(forge, forge.sign(claims), "https")


def test_http_outside_loopback_is_refused_even_in_development(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    claims["app"]["apiBaseUrl"] = "http://10.0.0.5/ex/jira/x"
    refused(forge, forge.sign(claims), "https", allow_http_loopback=True, api_hosts=["*"])


def test_http_loopback_is_allowed_only_in_development(forge: FakeForge) -> None:
    site = new_site()
    claims = forge.fit_claims(site)
    loopback = f"http://127.0.0.1:9/ex/jira/{site.cloud_id}"
    claims["app"]["apiBaseUrl"] = loopback
    claims["app"]["installation"]["contexts"][0]["apiBaseUrl"] = loopback
    token = forge.sign(claims)
    refused(forge, token, "https", api_hosts=["127.0.0.1"])
    invocation = verify(forge, token, api_hosts=["127.0.0.1"], allow_http_loopback=True)
    assert invocation.api_base_url == loopback


def test_a_token_without_an_api_base_url(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    del claims["app"]["apiBaseUrl"]
    refused(forge, forge.sign(claims), "apiBaseUrl")


def test_a_token_without_an_installation(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    del claims["app"]["installationId"]
    refused(forge, forge.sign(claims), "installation")


def test_a_token_naming_no_site(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    del claims["context"]["cloudId"]
    del claims["app"]["installation"]
    refused(forge, forge.sign(claims), "no site")


def test_a_token_naming_two_sites(forge: FakeForge) -> None:
    claims = forge.fit_claims(new_site())
    claims["context"]["cloudId"] = new_site().cloud_id
    refused(forge, forge.sign(claims), "two sites")


def test_the_cloud_id_from_the_installation_contexts_alone(forge: FakeForge) -> None:
    site = new_site()
    claims = forge.fit_claims(site)
    del claims["context"]
    assert verify(forge, forge.sign(claims)).cloud_id == site.cloud_id


def test_a_malformed_principal(forge: FakeForge) -> None:
    refused(forge, forge.fit(new_site(), principal=""), "principal")


def test_a_malformed_token(forge: FakeForge) -> None:
    refused(forge, "not.a.token", "malformed")
