"""The Cognito preset against a Cognito-shaped OP: endpoints on the domain, issuer and JWKS on
cognito-idp, `token_use`, string `email_verified`, and the pinned-issuer bootstrap."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import IdentityProvider
from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import (
    DESK_ID,
    RecordingProvisioner,
    callback,
    create_idp,
    login,
    sessions,
    start,
)

REGION = "eu-west-1"
POOL = f"{REGION}_AbCdEf123"
DOMAIN = f"acme-support.auth.{REGION}.amazoncognito.com"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"


def cognito_op(issuer: str = ISSUER, domain: str = DOMAIN) -> HostileOP:
    return HostileOP(
        issuer=issuer,
        endpoint_base=f"https://{domain}",
        jwks_path="/.well-known/jwks.json",
        client_id="3n4b5urk1ft4fl3mg5e62d9ado",
        client_secret="cognito-app-client-secret",
        subject="4f1c-uuid-of-the-user",
        user_claims={
            "email": "grace@example.com",
            "email_verified": "true",
            "name": "Grace Hopper",
        },
        extra_claims={
            "token_use": "id",
            "cognito:groups": ["support-customers"],
            "cognito:username": "grace",
        },
    )


@pytest.fixture
def cognito(network: respx.MockRouter) -> HostileOP:
    provider = cognito_op()
    provider.mount(network)
    return provider


async def make_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, **fields: Any
) -> dict[str, Any]:
    return await create_idp(
        client,
        tenant,
        name="Acme Cognito",
        preset="cognito",
        domain=DOMAIN,
        client_id=op.client_id,
        client_secret=op.client_secret,
        **fields,
    )


async def run_test_connection(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp_id: str
) -> httpx.Response:
    response = await client.post(
        f"/api/admin/idps/{idp_id}/test", headers={"Authorization": f"JWT {tenant.context_token()}"}
    )
    assert response.status_code == 200
    ticket_url = urlsplit(response.json()["url"])
    redirect = await client.get(ticket_url.path)
    assert redirect.status_code == 303
    return await callback(client, op.authorize(redirect.headers["location"]))


async def test_login_with_pool_id_uses_cognito_endpoints_and_string_email_verified(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    await make_idp(client, tenant, cognito, user_pool_id=POOL)
    location = await start(client, tenant)
    assert location.startswith(f"https://{DOMAIN}/oauth2/authorize?")
    response = await callback(client, cognito.authorize(location))
    assert response.status_code == 303, response.text
    identity = provisioner.calls[0]
    assert identity.issuer == ISSUER
    assert identity.email_verified
    assert identity.groups == ("support-customers",)
    assert cognito.discovery_calls == 0  # Cognito's domain serves no discovery; none needed


async def test_a_federated_provider_sends_customers_straight_to_it(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    idp = await make_idp(client, tenant, cognito, user_pool_id=POOL)
    plain = parse_qs(urlsplit(await start(client, tenant)).query)
    assert "identity_provider" not in plain  # Cognito's own sign-in page, as before

    headers = {"Authorization": f"JWT {tenant.context_token()}"}
    changed = await client.put(
        f"/api/admin/idps/{idp['id']}", json={"identity_provider": "CorpSAML"}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["identity_provider"] == "CorpSAML"
    location = await start(client, tenant)
    assert parse_qs(urlsplit(location).query)["identity_provider"] == ["CorpSAML"]
    assert (await callback(client, cognito.authorize(location))).status_code == 303

    cleared = await client.put(
        f"/api/admin/idps/{idp['id']}", json={"identity_provider": ""}, headers=headers
    )
    assert "identity_provider" not in cleared.json()
    client.cookies.clear()  # signed out: the next visit signs in again
    assert "identity_provider" not in parse_qs(urlsplit(await start(client, tenant)).query)


@pytest.mark.parametrize("name", ["Corp SAML", "_hidden", "x" * 33, "Corp\u200bSAML", "a\tb"])
async def test_a_federated_provider_name_cognito_cannot_have_is_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant, cognito: HostileOP, name: str
) -> None:
    response = await client.post(
        "/api/admin/idps",
        json={
            "name": "Acme Cognito",
            "preset": "cognito",
            "domain": DOMAIN,
            "client_id": cognito.client_id,
            "client_secret": cognito.client_secret,
            "identity_provider": name,
        },
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    assert response.status_code == 422, response.text
    assert "identity_provider" in response.json()["fields"]


async def test_choosing_a_federated_provider_keeps_the_pinned_issuer(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    """Federated or not, the pool issues the tokens: its issuer stays pinned, customers are
    not sent back to waiting for Test connection."""
    idp = await make_idp(client, tenant, cognito)
    assert (await run_test_connection(client, tenant, cognito, idp["id"])).status_code == 200
    headers = {"Authorization": f"JWT {tenant.context_token()}"}
    changed = await client.put(
        f"/api/admin/idps/{idp['id']}", json={"identity_provider": "Google"}, headers=headers
    )
    assert changed.json()["pinned_issuer"] == ISSUER
    assert changed.json()["ready"] is True
    # Changing the domain is another configuration: the pin goes.
    moved = await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"domain": f"other.auth.{REGION}.amazoncognito.com"},
        headers=headers,
    )
    assert moved.json()["pinned_issuer"] is None


async def test_updated_issuer_host_is_accepted_for_the_pool(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    network: respx.MockRouter,
    provisioner: RecordingProvisioner,
) -> None:
    op = cognito_op(issuer=f"https://issuer-cognito-idp.{REGION}.amazonaws.com/{POOL}")
    op.mount(network)
    await make_idp(client, tenant, op, user_pool_id=POOL)
    assert (await login(client, tenant, op)).status_code == 303


async def test_access_token_in_place_of_id_token_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await make_idp(client, tenant, cognito, user_pool_id=POOL)
    cognito.extra_claims["token_use"] = "access"
    response = await login(client, tenant, cognito)
    assert response.status_code == 400
    assert "not an ID token" in response.text
    assert provisioner.calls == []


@pytest.mark.parametrize(
    ("tokens", "reason"),
    [
        (
            {
                "claim_overrides": {
                    "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{REGION}_Other1"
                }
            },
            "issued by another issuer",
        ),
        ({"claim_overrides": {"iss": "https://evil.example"}}, "issued by another issuer"),
        ({"token_body_overrides": {"id_token": "not-a-jwt"}}, "ID token is malformed"),
    ],
    ids=["another-pool", "not-cognito", "malformed"],
)
async def test_token_not_from_the_configured_pool_is_refused_before_any_key_is_fetched(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    tokens: dict[str, Any],
    reason: str,
) -> None:
    await make_idp(client, tenant, cognito, user_pool_id=POOL)
    cognito.misbehave(**tokens)
    response = await login(client, tenant, cognito)
    assert response.status_code == 400
    assert reason in html.unescape(response.text)
    assert provisioner.calls == []
    assert await sessions(session) == 0
    assert cognito.jwks_calls == 0  # no key set fetched from wherever the token points


async def test_string_false_email_verified_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    await make_idp(client, tenant, cognito, user_pool_id=POOL)
    cognito.user_claims["email_verified"] = "false"
    response = await login(client, tenant, cognito)
    assert response.status_code == 400
    assert "not verified" in response.text


async def test_without_pool_id_customers_wait_until_test_connection_pins_the_issuer(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    idp = await make_idp(client, tenant, cognito)
    assert idp["ready"] is False
    refused = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert refused.status_code == 400
    assert "Test connection" in refused.text
    assert "location" not in refused.headers

    result = await run_test_connection(client, tenant, cognito, idp["id"])
    assert result.status_code == 200, result.text
    assert ISSUER in result.text
    assert "grace@example.com" in result.text
    assert "cognito:groups" in result.text
    assert provisioner.calls == []  # a test login provisions nobody
    assert await sessions(session) == 0

    described = (
        await client.get(
            f"/api/admin/idps/{idp['id']}",
            headers={"Authorization": f"JWT {tenant.context_token()}"},
        )
    ).json()
    assert described["pinned_issuer"] == ISSUER
    assert described["pinned_jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert described["ready"] is True
    assert "email" in described["last_test_claim_names"]

    assert (await login(client, tenant, cognito)).status_code == 303
    assert provisioner.calls[0].issuer == ISSUER


@pytest.mark.parametrize(
    ("issuer", "reason"),
    [
        ("https://evil.example.com/us-east-1_Abc", "not an AWS Cognito user pool"),
        ("https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Other1", "another region"),
    ],
)
async def test_bootstrap_refuses_issuers_that_are_not_this_pool(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    network: respx.MockRouter,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    issuer: str,
    reason: str,
) -> None:
    op = cognito_op(issuer=issuer)
    op.mount(network)
    idp = await make_idp(client, tenant, op)
    result = await run_test_connection(client, tenant, op, idp["id"])
    assert result.status_code == 400
    assert reason in html.unescape(result.text)
    async with session() as s:
        row = await s.get(IdentityProvider, idp["id"])
        assert row is not None
        assert row.pinned_issuer is None


async def test_bootstrap_refuses_a_pool_whose_endpoints_are_on_another_domain(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    network: respx.MockRouter,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    op = cognito_op()
    op.mount(network)
    # The pool's discovery points at another Cognito domain than the one configured.
    network.get(f"{ISSUER}/.well-known/openid-configuration").respond(
        200,
        json=op.discovery_document()
        | {
            "authorization_endpoint": f"https://other.auth.{REGION}.amazoncognito.com/oauth2/authorize"
        },
    )
    idp = await make_idp(client, tenant, op)
    result = await run_test_connection(client, tenant, op, idp["id"])
    assert result.status_code == 400
    assert "not on the Cognito domain" in result.text


async def test_test_link_is_single_use(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    idp = await make_idp(client, tenant, cognito, user_pool_id=POOL)
    response = await client.post(
        f"/api/admin/idps/{idp['id']}/test",
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    path = urlsplit(response.json()["url"]).path
    assert (await client.get(path)).status_code == 303
    again = await client.get(path)
    assert again.status_code == 400
    assert "already used" in again.text


async def test_logout_goes_to_cognito_logout_with_client_id_and_logout_uri(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    cognito: HostileOP,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await make_idp(client, tenant, cognito, user_pool_id=POOL)
    assert (await login(client, tenant, cognito)).status_code == 303
    response = await client.get(f"/portal/{tenant.tenant_id}/logout")
    assert response.status_code == 303
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"https://{DOMAIN}/logout"
    query = parse_qs(target.query)
    assert query["client_id"] == [cognito.client_id]
    assert query["logout_uri"] == [f"https://sso.example.test/portal/{tenant.tenant_id}/signed-out"]
    assert await sessions(session) == 0
    assert (
        "Max-Age=0" in response.headers["set-cookie"]
        or "expires=" in response.headers["set-cookie"].lower()
    )
    # The session is gone server side too: the portal starts a new login.
    assert (await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")).status_code == 303
