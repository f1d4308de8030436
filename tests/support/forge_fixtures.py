"""Fixtures for the app as a Forge remote: the fake Forge platform, settings with its app id
(``forge_settings``, for a test folder or module to use as its ``settings``), and a site
installed through Forge's install event whose Jira is the spec-validated fake JSM behind a
fake ``api.atlassian.com`` that checks the Bearer app token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import Tenant
from tests.support.fake_jira import FakeJira
from tests.support.forge_platform import JWKS_URL, FakeForge, ForgeSite, new_site

ADMIN = "557058:admin-account"
NOT_ADMIN = "557058:agent-account"


@pytest.fixture
def forge() -> FakeForge:
    return FakeForge()


def forge_settings(settings: Settings, forge: FakeForge) -> Settings:
    return settings.model_copy(update={"forge_app_id": forge.app_id, "forge_jwks_url": JWKS_URL})


@pytest.fixture
def forge_jwks(forge: FakeForge, network: respx.MockRouter) -> respx.Route:
    return forge.mount(network)


@dataclass
class ForgeTenant:
    """A site installed through Forge; ``tenant_id`` is what substitute links carry."""

    site: ForgeSite
    forge: FakeForge
    tenant_id: str
    jira: FakeJira

    def headers(self, *, principal: str | None = ADMIN, token: bool = True) -> dict[str, str]:
        """An ``invokeRemote`` call from the admin page (with a fresh app token)."""
        app_token = self.forge.app_token(self.site) if token else None
        return self.forge.headers(self.site, principal=principal, app_token=app_token)


def site_jira(forge: FakeForge, site: ForgeSite, network: respx.MockRouter) -> FakeJira:
    jira = FakeJira(
        base_url=site.api_base_url,
        app_key="unused-on-forge",
        client_key="unused-on-forge",
        shared_secret="unused-on-forge-" * 4,
        accepts_bearer=lambda token: forge.accepts(site.cloud_id, token),
        site_url=site.site_url,
    )
    jira.add_desk("7", "ITH", "IT Help")
    jira.mount(network)
    return jira


async def send_install(
    client: httpx.AsyncClient, forge: FakeForge, site: ForgeSite, *, token: bool = True
) -> httpx.Response:
    return await client.post(
        "/forge/lifecycle",
        json=forge.lifecycle_event(site),
        headers=forge.headers(site, app_token=forge.app_token(site) if token else None),
    )


async def install_forge_site(
    client: httpx.AsyncClient,
    forge: FakeForge,
    network: respx.MockRouter,
    sessionmaker: async_sessionmaker[AsyncSession],
    site: ForgeSite | None = None,
) -> ForgeTenant:
    site = site or new_site()
    jira = site_jira(forge, site, network)
    response = await send_install(client, forge, site)
    assert response.status_code == 200, response.text
    async with sessionmaker() as s:
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.cloud_id == site.cloud_id))
    assert tenant_id is not None
    return ForgeTenant(site, forge, tenant_id, jira)


@pytest.fixture
async def forge_tenant(
    client: httpx.AsyncClient,
    forge: FakeForge,
    forge_jwks: respx.Route,
    network: respx.MockRouter,
    session: async_sessionmaker[AsyncSession],
) -> ForgeTenant:
    del forge_jwks
    return await install_forge_site(client, forge, network, session)


async def tenant_row(sessionmaker: async_sessionmaker[AsyncSession], tenant_id: str) -> Tenant:
    async with sessionmaker() as s:
        row = await s.get(Tenant, tenant_id)
    assert row is not None
    return row


def idp_body(**extra: Any) -> dict[str, Any]:
    return {
        "name": "Customers",
        "preset": "cognito",
        "domain": "acme-customers.auth.eu-west-1.amazoncognito.com",
        "client_id": "client-1",
        "client_secret": "secret-1",
    } | extra
