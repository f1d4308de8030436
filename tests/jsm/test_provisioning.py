"""Customer provisioning through real logins: hostile OP -> callback -> JsmProvisioner ->
the fake JSM (requests and responses checked against the official spec)."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.crypto import SecretBox
from app.jsm.client import RetryPolicy
from app.jsm.directory import JiraDirectory
from app.jsm.provisioning import MAX_SYNCED_ORGANIZATIONS, JsmProvisioner
from app.login.service import LoginService
from app.main import platform_access
from app.models import CustomerLink, PortalSession
from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import DESK_ID, callback, login, start

pytestmark = pytest.mark.usefixtures("idp", "fast_retries")


@pytest.fixture
def fast_retries(app: FastAPI) -> None:
    from datetime import timedelta

    directory = JiraDirectory(
        app.state.services.get(httpx.AsyncClient),
        box=app.state.services.get(SecretBox),
        app_access=platform_access(
            app.state.services.get(Settings), app.state.services.get(SecretBox)
        ),
        policy=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05, budget_seconds=5),
    )
    app.state.services.add(directory)
    app.state.services.get(LoginService).provisioner = JsmProvisioner(
        directory, refresh_interval=timedelta(hours=24)
    )


async def links(session: async_sessionmaker[AsyncSession]) -> list[CustomerLink]:
    async with session() as s:
        return list((await s.scalars(select(CustomerLink))).all())


async def session_count(session: async_sessionmaker[AsyncSession]) -> int:
    async with session() as s:
        return int(await s.scalar(select(func.count()).select_from(PortalSession)) or 0)


async def put_settings(
    client: httpx.AsyncClient, tenant: InstalledTenant, **values: Any
) -> httpx.Response:
    return await client.put(
        "/api/admin/settings",
        json=values,
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )


async def callback_calls(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, jira: FakeJira
) -> tuple[httpx.Response, list[tuple[str, str]]]:
    """Log in; return the callback's response and the Jira calls the callback made."""
    url = op.authorize(await start(client, tenant))
    before = len(jira.calls)
    response = await callback(client, url)
    return response, jira.calls[before:]


async def test_new_customer_is_created_and_added_in_three_calls(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    response, calls = await callback_calls(client, tenant, op, jira)
    assert response.status_code == 303, response.text
    assert calls == [
        ("GET", "/rest/api/3/user/search"),
        ("POST", "/rest/servicedeskapi/customer"),
        ("POST", f"/rest/servicedeskapi/servicedesk/{DESK_ID}/customer"),
    ]
    account = next(iter(jira.accounts.values()))
    assert account.email == "ada@example.com"
    assert account.display_name == "Ada Lovelace"
    assert jira.desks[DESK_ID].customers == {account.account_id}
    [link] = await links(session)
    assert (link.issuer, link.subject, link.account_id) == (
        op.issuer,
        op.subject,
        account.account_id,
    )
    assert link.service_desk_ids == [DESK_ID]


async def test_existing_customer_is_found_by_exact_email_among_near_matches(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    jira.add_account("ada@example.com.au", "Ada Other")
    ada = jira.add_account("ADA@example.com", "Ada Lovelace")
    jira.add_account("ada.l@example.org", "Ada L")
    response, calls = await callback_calls(client, tenant, op, jira)
    assert response.status_code == 303
    assert calls == [
        ("GET", "/rest/api/3/user/search"),
        ("POST", f"/rest/servicedeskapi/servicedesk/{DESK_ID}/customer"),
    ]
    assert (await links(session))[0].account_id == ada.account_id
    assert len(jira.accounts) == 3


async def test_customer_created_meanwhile_is_found_after_exists(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    from tests.support.fake_jira import Account

    jira.race_customer = Account("qm:race", "ada@example.com", "Ada (created elsewhere)")
    response, calls = await callback_calls(client, tenant, op, jira)
    assert response.status_code == 303, response.text
    assert [c[1] for c in calls] == [
        "/rest/api/3/user/search",
        "/rest/servicedeskapi/customer",
        "/rest/api/3/user/search",
        f"/rest/servicedeskapi/servicedesk/{DESK_ID}/customer",
    ]
    assert (await links(session))[0].account_id == "qm:race"
    assert len(jira.accounts) == 1


async def test_returning_customer_costs_no_jira_call(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, jira: FakeJira
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    client.cookies.clear()
    before = len(jira.calls)
    assert (await login(client, tenant, op)).status_code == 303
    assert jira.calls[before:] == []  # neither the substitute link (desk cached) nor the callback


async def test_returning_customer_on_another_desk_is_added_there(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    jira.add_desk("8", "HR", "HR Help")
    await login(client, tenant, op)
    client.cookies.clear()
    url = op.authorize(await start(client, tenant, desk="8"))
    before = len(jira.calls)
    assert (await callback(client, url)).status_code == 303
    assert jira.calls[before:] == [("POST", "/rest/servicedeskapi/servicedesk/8/customer")]
    assert sorted((await links(session))[0].service_desk_ids) == ["7", "8"]


async def test_unknown_desk_gets_a_clear_page_and_no_redirect(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> None:
    response = await client.get(f"/portal/{tenant.tenant_id}/99")
    assert response.status_code == 404
    assert "no longer exists" in response.text
    assert "location" not in response.headers


async def test_rate_limited_then_success(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, jira: FakeJira
) -> None:
    jira.fail("POST", "/rest/servicedeskapi/customer", 429, headers={"Retry-After": "0"})
    response, calls = await callback_calls(client, tenant, op, jira)
    assert response.status_code == 303, response.text
    assert calls.count(("POST", "/rest/servicedeskapi/customer")) == 2
    assert len(jira.accounts) == 1


async def test_jira_down_half_way_leaves_nothing_that_breaks_the_next_login(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    # The customer gets created, then adding them to the desk keeps failing.
    jira.fail("POST", f"/rest/servicedeskapi/servicedesk/{DESK_ID}/customer", 503, times=10)
    response = await login(client, tenant, op)
    assert response.status_code == 502
    assert "Jira" in html.unescape(response.text)
    assert "Try again" in response.text
    assert await links(session) == []
    assert await session_count(session) == 0
    assert len(jira.accounts) == 1

    jira.clear_failures()
    client.cookies.clear()
    retry = await login(client, tenant, op)
    assert retry.status_code == 303, retry.text
    assert len(jira.accounts) == 1  # found by email, not created twice
    assert jira.desks[DESK_ID].customers == set(jira.accounts)
    assert len(await links(session)) == 1


async def test_api_token_mode_uses_the_service_account(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, jira: FakeJira
) -> None:
    jira.service_account = ("support-bot@acme.com", "atlassian-api-token")
    saved = await put_settings(
        client,
        tenant,
        jira_auth="api_token",
        service_account_email="support-bot@acme.com",
        service_account_token="atlassian-api-token",
    )
    assert saved.status_code == 200, saved.text
    jira.shared_secret = "rotated-away-so-only-basic-auth-can-work"
    response, calls = await callback_calls(client, tenant, op, jira)
    assert response.status_code == 303, response.text
    assert len(calls) == 3


async def test_auto_create_off_sends_unknown_customers_to_their_admin(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await put_settings(client, tenant, auto_create_customers=False)
    response = await login(client, tenant, op)
    assert response.status_code == 403
    assert "ask your administrator" in response.text
    assert jira.accounts == {}
    assert await session_count(session) == 0
    jira.add_account("ada@example.com", "Ada Lovelace")
    client.cookies.clear()
    assert (await login(client, tenant, op)).status_code == 303


async def test_email_domain_not_allowed(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await put_settings(client, tenant, allowed_email_domains=["acme.com"])
    response = await login(client, tenant, op)
    assert response.status_code == 403
    assert "not one this help center accepts" in response.text
    assert not any(
        path in ("/rest/servicedeskapi/customer", "/rest/api/3/user/search")
        for _, path in jira.calls
    )
    assert await session_count(session) == 0


async def test_organizations_are_added_and_removed_only_when_managed(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    idp: dict[str, Any],
) -> None:
    await put_settings(client, tenant, organization_sync=True)
    await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"attribute_mapping": {"organizations": "custom:company"}},
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    # An organization the app does not manage, which the customer already belongs to.
    ada = jira.add_account("ada@example.com", "Ada Lovelace")
    jira.organizations[1] = {"id": "1", "name": "Partners", "members": {ada.account_id}}

    op.extra_claims = {"custom:company": "Acme, Beta"}
    assert (await login(client, tenant, op)).status_code == 303
    by_name = {org["name"]: org for org in jira.organizations.values()}
    assert ada.account_id in by_name["Acme"]["members"]
    assert ada.account_id in by_name["Beta"]["members"]
    assert int(by_name["Acme"]["id"]) in jira.desks[DESK_ID].organizations

    client.cookies.clear()
    op.extra_claims = {"custom:company": "Acme"}
    assert (await login(client, tenant, op)).status_code == 303
    assert ada.account_id in by_name["Acme"]["members"]
    assert ada.account_id not in by_name["Beta"]["members"]
    assert ada.account_id in by_name["Partners"]["members"]  # never touched
    assert sum(1 for org in jira.organizations.values() if org["name"] == "Acme") == 1


async def test_two_jira_accounts_with_the_customers_email_are_not_guessed_between(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    jira.add_account("ada@example.com", "Ada Lovelace")
    jira.add_account("ADA@EXAMPLE.COM", "Ada (old account)")
    response = await login(client, tenant, op)
    assert response.status_code == 400
    assert "More than one Jira account uses your email address" in html.unescape(response.text)
    assert await links(session) == []
    assert await session_count(session) == 0
    assert jira.desks[DESK_ID].customers == set()


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (403, "Customer creation is off"),
        # "Exists", yet Jira's user search (hidden by privacy settings, say) finds nobody
        # with that email: nothing to link to, so no guess.
        (400, "Customer already exists"),
    ],
    ids=["creation-refused", "exists-but-not-found"],
)
async def test_jira_refusing_to_create_the_customer_fails_cleanly_and_the_retry_works(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
    status: int,
    message: str,
) -> None:
    jira.fail("POST", "/rest/servicedeskapi/customer", status, message=message)
    response = await login(client, tenant, op)
    assert response.status_code == 502
    assert message in html.unescape(response.text)
    assert await links(session) == []
    assert await session_count(session) == 0
    assert jira.accounts == {}

    client.cookies.clear()
    assert (await login(client, tenant, op)).status_code == 303
    assert len(jira.accounts) == 1


async def test_a_returning_customer_whose_email_changed_keeps_the_same_account(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    session: async_sessionmaker[AsyncSession],
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    [first] = await links(session)
    client.cookies.clear()
    op.user_claims |= {"email": "ada.lovelace@example.com", "name": "Ada King"}
    before = len(jira.calls)
    assert (await login(client, tenant, op)).status_code == 303
    assert jira.calls[before:] == []  # bound by (issuer, subject): no search by the new email
    [link] = await links(session)
    assert link.account_id == first.account_id
    assert (link.email, link.display_name) == ("ada.lovelace@example.com", "Ada King")
    assert len(jira.accounts) == 1


async def test_a_customer_with_more_organizations_than_are_kept_in_step_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    jira: FakeJira,
    idp: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    """A directory's whole group list mapped to organizations by mistake: hundreds of Jira
    calls on the way in. Refused with a reason, before any of them; a fixed mapping works."""
    await put_settings(client, tenant, organization_sync=True)
    await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"attribute_mapping": {"organizations": "groups"}},
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    op.extra_claims = {"groups": [f"group-{n}" for n in range(MAX_SYNCED_ORGANIZATIONS + 1)]}
    response = await login(client, tenant, op)
    assert response.status_code == 400
    assert f"names {MAX_SYNCED_ORGANIZATIONS + 1} organizations" in response.text
    assert not any(
        part in path for _, path in jira.calls for part in ("/customer", "/organization", "/user")
    )
    assert jira.organizations == {}
    assert await session_count(session) == 0

    op.extra_claims = {"groups": [f"group-{n}" for n in range(MAX_SYNCED_ORGANIZATIONS)]}
    client.cookies.clear()
    assert (await login(client, tenant, op)).status_code == 303
    assert len(jira.organizations) == MAX_SYNCED_ORGANIZATIONS
