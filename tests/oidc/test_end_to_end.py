"""End to end against a real OpenID Provider (npm oidc-provider on loopback): substitute link
-> the OP's login form, posted by httpx -> callback -> portal session -> the desk."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import CustomerLink
from tests.conftest import InstalledTenant
from tests.support.login_fixtures import DESK_ID, RecordingProvisioner
from tests.support.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The real OP listens on plain http on loopback.
    return settings.model_copy(update={"app_env": "development", "dev_allow_http_loopback": True})


@pytest.fixture
def loopback(network: respx.MockRouter) -> None:
    network.route(host="127.0.0.1").pass_through()


async def sign_in_at_op(location: str, login: str) -> str:
    """Be the browser at the OP: follow to its login form, post it, return the callback URL."""
    async with httpx.AsyncClient(timeout=10) as browser:
        response = await browser.get(location)
        while response.status_code in (302, 303) and not response.headers["location"].startswith(
            "https://sso"
        ):
            response = await browser.get(
                httpx.URL(str(response.url)).join(response.headers["location"])
            )
        assert response.status_code == 200, response.text
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert action is not None, response.text
        response = await browser.post(
            action.group(1), data={"prompt": "login", "login": login, "password": "any"}
        )
        while response.status_code in (302, 303):
            target = str(httpx.URL(str(response.url)).join(response.headers["location"]))
            if target.startswith("https://sso.example.test/"):
                return target
            response = await browser.get(target)
        raise AssertionError(
            f"the OP did not redirect back: {response.status_code} {response.text[:500]}"
        )


async def configure_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: OpenIDProvider
) -> dict[str, Any]:
    headers = {"Authorization": f"JWT {tenant.context_token()}"}
    created = await client.post(
        "/api/admin/idps",
        json={
            "name": "Company SSO",
            "preset": "oidc",
            "issuer": op.issuer,
            "client_id": "pending",
            "client_secret": "pending",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    idp = created.json()
    registered = op.register_client(idp["callback_url"])
    updated = await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"client_id": registered["client_id"], "client_secret": registered["client_secret"]},
        headers=headers,
    )
    assert updated.status_code == 200, updated.text
    return dict(updated.json())


@pytest.mark.usefixtures("loopback")
async def test_login_against_a_real_openid_provider(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """The whole chain with the app's real provisioner against the fake JSM."""
    await configure_idp(client, tenant, openid_provider)
    start = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert start.status_code == 303
    assert start.headers["location"].startswith(f"{openid_provider.issuer}/auth?")

    callback_url = await sign_in_at_op(start.headers["location"], "ada")
    assert "iss=" in callback_url  # the OP sends RFC 9207 iss; the app requires it
    parts = urlsplit(callback_url)
    landed = await client.get(f"{parts.path}?{parts.query}")
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == f"/portal/{tenant.tenant_id}/{DESK_ID}"

    [account] = tenant.jira.accounts.values()
    assert (account.email, account.display_name) == ("ada@example.com", "Ada Lovelace")
    assert tenant.jira.desks[DESK_ID].customers == {account.account_id}
    async with session() as s:
        link = (await s.scalars(select(CustomerLink))).one()
    assert (link.issuer, link.subject, link.account_id) == (
        openid_provider.issuer,
        "ada",
        account.account_id,
    )

    portal = await client.get(landed.headers["location"])
    assert portal.status_code == 200
    assert "Ada Lovelace" in portal.text


@pytest.mark.usefixtures("loopback")
async def test_unverified_email_at_a_real_openid_provider_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    provisioner: RecordingProvisioner,
) -> None:
    await configure_idp(client, tenant, openid_provider)
    start = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    parts = urlsplit(await sign_in_at_op(start.headers["location"], "eve"))
    refused = await client.get(f"{parts.path}?{parts.query}")
    assert refused.status_code == 400
    assert "not verified" in refused.text
    assert provisioner.calls == []
