"""The login flow against a hostile OP: one test per way the callback can be attacked or break.

In every rejection: no customer provisioned, no portal session, and no userinfo call after a
bad ID token."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import IdentityProvider
from app.tenants import repository as tenants
from tests.conftest import InstalledTenant, install_tenant
from tests.support.connect_tokens import InstallSigner
from tests.support.hostile_op import HostileOP, SigningKeyPair
from tests.support.login_fixtures import (
    DESK_ID,
    RecordingProvisioner,
    assert_refused,
    callback,
    create_idp,
    failures,
    login,
    sessions,
    start,
)

pytestmark = pytest.mark.usefixtures("idp")


async def test_valid_rs256_login_creates_session_and_redirects_to_the_desk(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    response = await login(client, tenant, op)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/portal/{tenant.tenant_id}/{DESK_ID}"
    cookie = response.headers["set-cookie"]
    # __Host-: only this host can set it (no sibling subdomain can plant a session).
    assert cookie.startswith(f"__Host-portal_session_{tenant.tenant_id}=")
    assert "Path=/;" in cookie
    assert "domain" not in cookie.lower()
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    assert [c.email for c in provisioner.calls] == ["ada@example.com"]
    assert provisioner.calls[0].issuer == op.issuer
    assert provisioner.calls[0].subject == op.subject
    assert op.userinfo_calls == 0  # the ID token had everything
    assert await sessions(session) == 1

    page = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert page.status_code == 200
    assert "Ada Lovelace" in page.text


async def test_authorize_request_uses_pkce_state_nonce_and_openid(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> None:
    location = await start(client, tenant)
    assert location.startswith(op.authorization_endpoint + "?")
    for parameter in (
        "state=",
        "nonce=",
        "code_challenge=",
        "code_challenge_method=S256",
        "scope=openid",
    ):
        assert parameter in location
    flow_cookie = client.cookies.get("__Host-sso_flow")
    assert flow_cookie


async def test_client_secret_is_sent_with_http_basic(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    request = op.token_requests[0]
    assert request.headers["authorization"].startswith("Basic ")
    assert b"client_secret" not in request.content


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://evil.example"}, "another issuer"),
        ({"sub": None}, "no subject"),
        ({"aud": "someone-else"}, "another client"),
        ({"aud": None}, "no audience"),
        ({"iat": None}, "no iat"),
        ({"exp": int(time.time()) - 600}, "expired"),
        ({"iat": int(time.time()) + 3600}, "issued in the future"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"nbf": "yesterday"}, "no nbf"),
        ({"nonce": "not-the-nonce"}, "nonce does not match"),
        ({"nonce": "n\u00f8nce"}, "nonce does not match"),
        ({"at_hash": "AAAAAAAAAAAAAAAAAAAAAA"}, "at_hash"),
        ({"at_hash": "\u00e5\u00e5\u00e5"}, "at_hash"),
        ({"aud": ["portal-client", "other"]}, "authorized party"),
    ],
    ids=[
        "wrong-iss",
        "no-sub",
        "wrong-aud",
        "no-aud",
        "no-iat",
        "expired",
        "future-iat",
        "future-nbf",
        "malformed-nbf",
        "nonce",
        "non-ascii-nonce",
        "at_hash",
        "non-ascii-at_hash",
        "multi-aud-no-azp",
    ],
)
async def test_bad_id_token_claims_are_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    overrides: dict[str, Any],
    reason: str,
) -> None:
    op.claim_overrides = overrides
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, reason)
    assert op.userinfo_calls == 0


async def test_past_not_before_within_skew_is_accepted(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    # Clocks differ: an nbf a minute ahead of ours is within the allowed skew.
    op.claim_overrides = {"nbf": int(time.time()) + 60}
    assert (await login(client, tenant, op)).status_code == 303


async def test_multiple_audiences_with_our_azp_are_accepted(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    op.claim_overrides = {"aud": ["portal-client", "api"], "azp": "portal-client"}
    assert (await login(client, tenant, op)).status_code == 303


@pytest.mark.parametrize(
    ("sign_with", "reason"),
    [
        ("foreign-key", "signature is invalid"),
        ("none", "algorithm 'none' is not accepted"),
        ("hs256-public-key", "algorithm 'HS256' is not accepted"),
    ],
)
async def test_bad_signatures_are_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    sign_with: str,
    reason: str,
) -> None:
    op.sign_with = sign_with
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, reason)
    assert op.userinfo_calls == 0


async def test_missing_kid_with_one_key_is_accepted(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    op.omit_kid = True
    assert (await login(client, tenant, op)).status_code == 303


async def test_missing_kid_with_several_keys_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.keys = [SigningKeyPair(kid="a"), SigningKeyPair(kid="b")]
    op.omit_kid = True
    await assert_refused(await login(client, tenant, op), provisioner, session, "several")


async def test_key_rotation_between_logins_is_accepted_after_one_refetch(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    assert op.jwks_calls == 1
    client.cookies.clear()
    op.keys = [SigningKeyPair(kid="key-2")]
    assert (await login(client, tenant, op)).status_code == 303
    assert op.jwks_calls == 2
    client.cookies.clear()
    assert (await login(client, tenant, op)).status_code == 303
    assert op.jwks_calls == 2  # cached again
    assert op.discovery_calls == 1


async def test_unknown_kid_refetches_once_then_fails(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.header_overrides = {"kid": "not-published"}
    await assert_refused(await login(client, tenant, op), provisioner, session, "unknown key")
    assert op.jwks_calls == 2


async def test_userinfo_sub_mismatch_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    # The ID token lacks the email, so userinfo is needed; it speaks of someone else.
    op.claim_overrides = {"email": None, "email_verified": None}
    op.userinfo_claims = {"sub": "someone-else", "email": "eve@example.com", "email_verified": True}
    await assert_refused(await login(client, tenant, op), provisioner, session, "another user")
    assert op.userinfo_calls == 1


async def test_userinfo_fills_missing_claims(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    op.claim_overrides = {"email": None, "email_verified": None}
    assert (await login(client, tenant, op)).status_code == 303
    assert op.userinfo_calls == 1
    assert provisioner.calls[0].email == "ada@example.com"


async def test_unverified_email_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.claim_overrides = {"email_verified": False}
    await assert_refused(await login(client, tenant, op), provisioner, session, "not verified")


async def test_unverified_email_accepted_when_the_admin_trusts_the_idp(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    idp: dict[str, Any],
) -> None:
    response = await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"trust_email": True},
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    assert response.status_code == 200
    op.claim_overrides = {"email_verified": None}
    assert (await login(client, tenant, op)).status_code == 303
    assert provisioner.calls[0].email_verified


async def test_state_cannot_be_reused(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    url = op.authorize(await start(client, tenant))
    assert (await callback(client, url)).status_code == 303
    # The response copied into another browser (an attacker's, say):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=client.base_url) as other:
        replay = await callback(other, url)
    assert replay.status_code == 400
    assert "already been used" in replay.text
    assert len(provisioner.calls) == 1
    assert op.token_calls == 1
    assert await sessions(session) == 1


async def test_back_after_signing_in_returns_to_the_portal_without_a_failure(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    # Back to the IdP's page, which (still signed in there) sends the old state once more.
    authorization = await start(client, tenant)
    signed_in = await callback(client, op.authorize(authorization))
    assert signed_in.status_code == 303
    back = await callback(client, op.authorize(authorization))  # a new code, the old state
    assert back.status_code == 303
    assert back.headers["location"] == signed_in.headers["location"]
    assert back.headers["cache-control"] == "no-store"
    assert "set-cookie" not in back.headers
    assert op.token_calls == 1  # the new code is not redeemed
    assert len(provisioner.calls) == 1
    assert await sessions(session) == 1
    assert await failures(session) == []  # nothing for the admin to wonder about


async def test_back_after_signing_out_starts_afresh_at_the_same_desk(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    authorization = await start(client, tenant)
    signed_in = await callback(client, op.authorize(authorization))
    await client.get(f"/portal/{tenant.tenant_id}/logout")
    back = await callback(client, op.authorize(authorization))
    assert back.headers["location"] == signed_in.headers["location"]
    desk = await client.get(back.headers["location"])  # no session now: a new login
    assert desk.status_code == 303
    assert desk.headers["location"].startswith(op.authorization_endpoint)
    assert op.token_calls == 1
    assert await failures(session) == []


async def test_a_state_sent_to_another_tenants_idp_names_nothing_of_its_tenant(
    client: httpx.AsyncClient,
    app: FastAPI,
    signer: InstallSigner,
    key_cdn: respx.Route,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    other = await install_tenant(client, signer, client_key="jira:other-site")
    assert other.status_code == 204
    async with app.state.services.get(async_sessionmaker)() as s:
        other_tenant = await tenants.get_by_client_key(s, "jira:other-site")
        assert other_tenant is not None
        other_idp = IdentityProvider(
            id="otheridp00000000",
            tenant_id=other_tenant.id,
            name="Other",
            preset="oidc",
            client_id="c",
            settings={"issuer": op.issuer},
        )
        s.add(other_idp)
        await s.commit()
    back = urlsplit(op.authorize(await start(client, tenant)))
    response = await client.get("/oidc/otheridp00000000/callback", params=parse_qs(back.query))
    assert response.status_code == 400
    assert "wrong identity provider" in response.text
    assert tenant.tenant_id not in response.text  # the first site stays unnamed
    assert provisioner.calls == []


@pytest.mark.parametrize(
    ("params", "reason"),
    [({"state": "forged", "code": "x"}, "unknown"), ({"code": "x"}, "carries no state")],
    ids=["forged-state", "no-state"],
)
async def test_a_state_not_ours_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    idp: dict[str, Any],
    params: dict[str, str],
    reason: str,
) -> None:
    await start(client, tenant)
    response = await client.get(f"/oidc/{idp['id']}/callback", params=params)
    await assert_refused(response, provisioner, session, reason)
    assert op.token_calls == 0


async def test_callback_without_code_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    back = urlsplit(op.authorize(await start(client, tenant)))
    state = parse_qs(back.query)["state"][0]
    response = await client.get(back.path, params={"state": state})
    await assert_refused(response, provisioner, session, "carries no authorization code")
    assert op.token_calls == 0


async def test_expired_state_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from app.models import LoginState

    url = op.authorize(await start(client, tenant))
    async with session() as s:
        await s.execute(
            update(LoginState).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await s.commit()
    await assert_refused(await callback(client, url), provisioner, session, "expired")
    assert op.token_calls == 0


async def test_state_from_another_browser_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    url = op.authorize(await start(client, tenant))
    client.cookies.clear()  # the victim's browser, without the attacker's flow cookie
    await assert_refused(await callback(client, url), provisioner, session, "another browser")
    assert op.token_calls == 0


async def test_state_for_another_idp_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    idp: dict[str, Any],
) -> None:
    other = await create_idp(
        client,
        tenant,
        name="Other",
        preset="oidc",
        issuer=op.issuer,
        client_id="x",
        client_secret="y",
    )
    response = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{idp['id']}")
    url = op.authorize(response.headers["location"])
    misdirected = url.replace(f"/oidc/{idp['id']}/", f"/oidc/{other['id']}/")
    await assert_refused(
        await callback(client, misdirected), provisioner, session, "wrong identity provider"
    )
    assert op.token_calls == 0


async def test_callback_iss_mismatch_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.callback_iss = "https://evil.example"
    await assert_refused(await login(client, tenant, op), provisioner, session, "RFC 9207")
    assert op.token_calls == 0


async def test_callback_iss_required_when_advertised(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.iss_parameter_supported = True
    await assert_refused(await login(client, tenant, op), provisioner, session, "RFC 9207")
    op.callback_iss = op.issuer
    client.cookies.clear()
    assert (await login(client, tenant, op)).status_code == 303


async def test_idp_error_is_shown_readably(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.authorize_error = "access_denied"
    response = await login(client, tenant, op)
    await assert_refused(response, provisioner, session, "access_denied")
    assert "cancelled or refused" in response.text
    assert f"/portal/{tenant.tenant_id}/{DESK_ID}" in response.text  # a way forward
    assert op.token_calls == 0


async def test_discovery_issuer_mismatch_rejects_the_configuration(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op.discovery_issuer = "https://evil.example"
    response = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert response.status_code == 502
    assert "does not match the configured issuer" in response.text
    assert "location" not in response.headers


async def test_provisioning_refusal_leaves_no_session(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    provisioner.refuse_with = "your email domain is not allowed here"
    response = await login(client, tenant, op)
    assert response.status_code == 400
    assert "not allowed here" in response.text
    assert await sessions(session) == 0
