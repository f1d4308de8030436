from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import LoginError
from app.identity import MappedIdentity
from app.login.service import LoginService
from app.models import IdentityProvider, LoginEvent, PortalSession, Tenant
from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP

DESK_ID = "7"


@dataclass
class RecordingProvisioner:
    """In-memory double of the JSM provisioning service: records who was let in."""

    calls: list[MappedIdentity] = field(default_factory=list)
    refuse_with: str | None = None

    async def provision(
        self,
        session: AsyncSession,
        *,
        tenant: Tenant,
        idp: IdentityProvider,
        identity: MappedIdentity,
        service_desk_id: str | None,
    ) -> str:
        del session, tenant, idp, service_desk_id
        if self.refuse_with:
            raise LoginError(self.refuse_with)
        self.calls.append(identity)
        return f"acct-{identity.subject}"


@pytest.fixture
def provisioner(app: FastAPI) -> RecordingProvisioner:
    double = RecordingProvisioner()
    app.state.services.get(LoginService).provisioner = double
    return double


@pytest.fixture
def op(network: respx.MockRouter) -> HostileOP:
    provider = HostileOP()
    provider.mount(network)
    return provider


async def create_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, /, **body: Any
) -> dict[str, Any]:
    # Positional-only: Entra ID's own field is called "tenant", and goes in the body.
    response = await client.post(
        "/api/admin/idps", json=body, headers={"Authorization": f"JWT {tenant.context_token()}"}
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def oauth2_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, **body: Any
) -> dict[str, Any]:
    """A plain OAuth 2.0 provider (no ID token) on ``op``'s endpoints."""
    fields: dict[str, Any] = {
        "name": "Code host",
        "preset": "oauth2",
        "authorization_endpoint": op.authorization_endpoint,
        "token_endpoint": op.token_endpoint,
        "userinfo_endpoint": op.userinfo_endpoint,
        "client_id": op.client_id,
        "client_secret": op.client_secret,
    }
    return await create_idp(client, tenant, **(fields | body))


@pytest.fixture
async def idp(client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP) -> dict[str, Any]:
    return await create_idp(
        client,
        tenant,
        name="Example OP",
        preset="oidc",
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
    )


async def start(client: httpx.AsyncClient, tenant: InstalledTenant, desk: str = DESK_ID) -> str:
    response = await client.get(f"/portal/{tenant.tenant_id}/{desk}")
    assert response.status_code == 303, response.text
    return response.headers["location"]


async def callback(client: httpx.AsyncClient, url: str) -> httpx.Response:
    parts = urlsplit(url)
    return await client.get(f"{parts.path}?{parts.query}")


async def login(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> httpx.Response:
    return await callback(client, op.authorize(await start(client, tenant)))


async def count(
    sessionmaker: async_sessionmaker[AsyncSession], model: type[Any], **where: Any
) -> int:
    async with sessionmaker() as s:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await s.scalar(query) or 0)


async def sessions(sessionmaker: async_sessionmaker[AsyncSession]) -> int:
    return await count(sessionmaker, PortalSession)


async def failures(sessionmaker: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessionmaker() as s:
        rows = await s.scalars(select(LoginEvent).where(LoginEvent.outcome == "failure"))
        return [row.reason or "" for row in rows]


@dataclass
class SignedIn:
    account_id: str
    tenant: InstalledTenant

    @property
    def home(self) -> str:
        return f"/portal/{self.tenant.tenant_id}/{DESK_ID}"


@pytest.fixture
async def signed_in(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> SignedIn:
    """A customer signed in through the OP, provisioned by the real JSM provisioner."""
    del idp
    response = await login(client, tenant, op)
    assert response.status_code == 303, response.text
    [account] = [a for a in tenant.jira.accounts.values() if a.email == "ada@example.com"]
    return SignedIn(account.account_id, tenant)


async def assert_refused(
    response: httpx.Response,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    reason: str,
    *,
    status: int | None = None,
) -> None:
    """A login refused cleanly: a readable page with the reason (``status`` exactly, when
    given), no trace, nobody provisioned, no portal session, and the reason audited."""
    if status is None:
        assert response.status_code in (400, 502), response.text
    else:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    page = html.unescape(response.text)
    assert reason in page
    assert "Traceback" not in page
    assert provisioner.calls == []
    assert await sessions(session) == 0
    assert any(reason in failure for failure in await failures(session))
