"""Atlassian's personal data reporting API: every stored account once per cycle, 90 to a
request, as the app; closed accounts erased at that site; failures retried later."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.jsm.client import JiraClient
from app.jsm.directory import JiraDirectory
from app.jsm.personal_data import (
    DEFAULT_CYCLE,
    cycle_period,
    report_all_sites,
    report_batch,
    report_site,
)
from app.jsm.repository import due_accounts
from app.models import (
    CustomerLink,
    IdentityProvider,
    LoginEvent,
    PersonalDataReport,
    PortalSession,
    Tenant,
)
from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def store_customer(
    session: async_sessionmaker[AsyncSession], tenant_id: str, account_id: str, n: int = 0
) -> None:
    """What a sign-in leaves behind: a customer link, a session and a login event."""
    async with session() as s:
        s.add(
            CustomerLink(
                tenant_id=tenant_id,
                issuer="https://idp.example.com",
                subject=f"sub-{account_id}-{n}",
                account_id=account_id,
                email=f"{account_id}-{n}@example.com",
                display_name=f"Customer {account_id}",
                refreshed_at=NOW - timedelta(days=1),
                created_at=NOW - timedelta(days=2),
            )
        )
        s.add(
            LoginEvent(
                tenant_id=tenant_id,
                outcome="success",
                email=f"{account_id}-{n}@example.com",
                subject=f"sub-{account_id}-{n}",
                account_id=account_id,
            )
        )
        await s.commit()


async def app_client(
    app: FastAPI, session: async_sessionmaker[AsyncSession], tenant_id: str
) -> JiraClient:
    async with session() as s:
        row = await s.get(Tenant, tenant_id)
    assert row is not None
    client: JiraClient = app.state.services.get(JiraDirectory).app_client(row)
    return client


@pytest.mark.parametrize(
    ("header", "period"),
    [
        ("604800", timedelta(days=7)),
        ("P7D", timedelta(days=7)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        (None, DEFAULT_CYCLE),
        ("soon", DEFAULT_CYCLE),
        ("P", DEFAULT_CYCLE),
        ("60", DEFAULT_CYCLE),  # a minute would have the app report without pause
    ],
)
def test_the_cycle_period_atlassian_gives_is_read(header: str | None, period: timedelta) -> None:
    assert cycle_period(header) == period


async def test_each_stored_account_is_reported_once_per_cycle(
    app: FastAPI, tenant: InstalledTenant, jira: FakeJira, session: async_sessionmaker[AsyncSession]
) -> None:
    for account_id in ("qm:ada", "qm:bob"):
        await store_customer(session, tenant.tenant_id, account_id)
    await store_customer(session, tenant.tenant_id, "qm:ada", n=1)  # a second IdP, one account
    jira_client = await app_client(app, session, tenant.tenant_id)

    async with session() as s:
        first = await report_batch(s, jira_client, tenant.tenant_id, now=NOW)
        await s.commit()
    assert first.reported == 2
    assert jira.reported == [
        [
            {"accountId": "qm:ada", "updatedAt": "2026-11-26T12:00:00Z"},
            {"accountId": "qm:bob", "updatedAt": "2026-11-26T12:00:00Z"},
        ]
    ]
    async with session() as s:
        assert await due_accounts(s, tenant.tenant_id, now=NOW + timedelta(days=6), limit=90) == []
        again = await report_batch(s, jira_client, tenant.tenant_id, now=NOW + timedelta(days=6))
        assert again.reported == 0
        next_cycle = await report_batch(
            s, jira_client, tenant.tenant_id, now=NOW + timedelta(days=7)
        )
        await s.commit()
    assert next_cycle.reported == 2
    assert len(jira.reported) == 2


async def test_many_accounts_go_ninety_to_a_request(
    app: FastAPI, tenant: InstalledTenant, jira: FakeJira, session: async_sessionmaker[AsyncSession]
) -> None:
    for n in range(200):
        await store_customer(session, tenant.tenant_id, f"qm:{n:03}")
    report = await report_site(
        session, await app_client(app, session, tenant.tenant_id), tenant.tenant_id
    )
    assert report.reported == 200
    assert [len(batch) for batch in jira.reported] == [90, 90, 20]
    assert len({a["accountId"] for batch in jira.reported for a in batch}) == 200


async def test_a_closed_account_is_erased_at_that_site_and_nothing_else(
    app: FastAPI,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await store_customer(session, tenant.tenant_id, "qm:closed")
    await store_customer(session, tenant.tenant_id, "qm:closed", n=1)
    await store_customer(session, tenant.tenant_id, "qm:active")
    await store_customer(session, other_tenant.tenant_id, "qm:closed")
    async with session() as s:
        idp = IdentityProvider(
            id="idp-closed-test",
            tenant_id=tenant.tenant_id,
            name="IdP",
            preset="oidc",
            client_id="c",
            position=1,
            settings={},
            attribute_mapping={},
            email_domains=[],
        )
        s.add(idp)
        await s.flush()
        for account_id in ("qm:closed", "qm:active"):
            s.add(
                PortalSession(
                    id_hash=f"hash-{account_id}",
                    tenant_id=tenant.tenant_id,
                    idp_id=idp.id,
                    account_id=account_id,
                    issuer="https://idp.example.com",
                    subject=f"sub-{account_id}-0",
                    email=f"{account_id}-0@example.com",
                    display_name="Someone",
                    csrf_token="t",
                    expires_at=NOW + timedelta(days=365),
                )
            )
        await s.commit()
    jira.closed_accounts = {"qm:closed"}
    jira.updated_accounts = {"qm:active"}  # its profile changed: the app keeps no copy of it

    report = await report_site(
        session, await app_client(app, session, tenant.tenant_id), tenant.tenant_id
    )

    assert report.erased == ["qm:closed"]
    async with session() as s:
        links = (await s.scalars(select(CustomerLink))).all()
        assert sorted((link.tenant_id, link.account_id) for link in links) == sorted(
            [(tenant.tenant_id, "qm:active"), (other_tenant.tenant_id, "qm:closed")]
        )
        events = (
            await s.scalars(select(LoginEvent).where(LoginEvent.tenant_id == tenant.tenant_id))
        ).all()
        assert len(events) == 3  # the activity stays, without saying who
        assert {(e.account_id, e.email is None, e.subject is None) for e in events} == {
            (None, True, True),
            ("qm:active", False, False),
        }
        sessions = (await s.scalars(select(PortalSession.account_id))).all()
        assert sessions == ["qm:active"]  # signed out at once
        reports = (await s.scalars(select(PersonalDataReport))).all()
        assert [(r.tenant_id, r.account_id) for r in reports] == [(tenant.tenant_id, "qm:active")]


async def test_a_failed_report_loses_nothing_and_is_retried_later(
    app: FastAPI, tenant: InstalledTenant, jira: FakeJira, session: async_sessionmaker[AsyncSession]
) -> None:
    await store_customer(session, tenant.tenant_id, "qm:ada")
    jira.closed_accounts = {"qm:ada"}
    jira.fail("POST", "/app/report-accounts/", 400, message="not today")
    jira_client = await app_client(app, session, tenant.tenant_id)
    async with session() as s:
        failed = await report_batch(s, jira_client, tenant.tenant_id, now=NOW)
        await s.commit()
    assert failed.failed
    async with session() as s:
        assert await s.scalar(select(CustomerLink.account_id)) == "qm:ada"
        assert (
            await due_accounts(s, tenant.tenant_id, now=NOW + timedelta(minutes=30), limit=90) == []
        )
        retried = await report_batch(s, jira_client, tenant.tenant_id, now=NOW + timedelta(hours=1))
        await s.commit()
    assert retried.erased == ["qm:ada"]


async def test_every_active_site_is_reported_as_the_app(
    app: FastAPI,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await store_customer(session, tenant.tenant_id, "qm:ada")
    await store_customer(session, other_tenant.tenant_id, "qm:bob")
    totals = await report_all_sites(session, app.state.services.get(JiraDirectory))
    assert totals == {"sites": 2, "reported": 2, "erased": 0, "failed": 0}
    assert tenant.jira.reported == [[{"accountId": "qm:ada", "updatedAt": "2026-11-26T12:00:00Z"}]]
    assert other_tenant.jira.reported == [
        [{"accountId": "qm:bob", "updatedAt": "2026-11-26T12:00:00Z"}]
    ]


async def test_two_instances_reporting_at_once_send_each_account_once(
    app: FastAPI, tenant: InstalledTenant, jira: FakeJira, session: async_sessionmaker[AsyncSession]
) -> None:
    if session.kw["bind"].dialect.name != "postgresql":
        pytest.skip("several instances are a PostgreSQL deployment")
    for n in range(300):
        await store_customer(session, tenant.tenant_id, f"qm:{n:03}")
    jira_client = await app_client(app, session, tenant.tenant_id)
    await asyncio.gather(
        report_site(session, jira_client, tenant.tenant_id),
        report_site(session, jira_client, tenant.tenant_id),
    )
    sent = Counter(a["accountId"] for batch in jira.reported for a in batch)
    assert len(sent) == 300
    assert set(sent.values()) == {1}


async def test_a_site_that_cannot_be_reported_does_not_stop_the_others(
    app: FastAPI,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await store_customer(session, tenant.tenant_id, "qm:ada")
    await store_customer(session, other_tenant.tenant_id, "qm:bob")
    async with session() as s:
        broken = await s.get(Tenant, tenant.tenant_id)
        assert broken is not None
        broken.shared_secret_encrypted = "not a Fernet token"  # a key retired too early
        await s.commit()
    totals = await report_all_sites(session, app.state.services.get(JiraDirectory))
    assert totals == {"sites": 1, "reported": 1, "erased": 0, "failed": 1}
    assert other_tenant.jira.reported == [
        [{"accountId": "qm:bob", "updatedAt": "2026-11-26T12:00:00Z"}]
    ]
