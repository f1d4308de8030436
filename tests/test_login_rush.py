"""The login limits hold real traffic: a customer company behind one NAT address signs in all
at once, while abandoned or forged starts from that address still meet the low limit."""

from __future__ import annotations

import types

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import PortalSession
from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import callback, count, start


@pytest.fixture
def frozen_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of the test falls in the same instant of the limiter's clock, so the
    rush happens within one minute however long the test takes."""
    monkeypatch.setattr("app.ratelimit.time", types.SimpleNamespace(monotonic=lambda: 1000.0))


@pytest.mark.usefixtures("idp", "frozen_minute")
async def test_a_rush_of_300_logins_from_one_address_is_let_in(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    statuses = []
    for n in range(300):
        client.cookies.clear()  # a fresh browser for each customer
        op.subject = f"employee-{n}"
        op.user_claims["email"] = f"employee-{n}@example.com"
        location = await start(client, tenant)
        statuses.append((await callback(client, op.authorize(location))).status_code)
    assert statuses == [303] * 300
    assert await count(session, PortalSession) == 300

    # The same address starting logins it never finishes meets the low limit at once.
    client.cookies.clear()
    abandoned = [(await client.get(f"/portal/{tenant.tenant_id}/7")).status_code for _ in range(31)]
    assert abandoned == [303] * 30 + [429]


@pytest.mark.usefixtures("idp", "frozen_minute")
async def test_a_login_that_is_refused_by_the_idp_is_not_taken_back(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> None:
    """Only the IdP's verified answer takes a start back: a made-up code at the callback is
    one more unfinished start."""
    op.token_error = "invalid_grant"
    answers = []
    for _ in range(30):
        location = await start(client, tenant)
        answers.append((await callback(client, op.authorize(location))).status_code)
    assert 303 not in answers
    assert (await client.get(f"/portal/{tenant.tenant_id}/7")).status_code == 429
