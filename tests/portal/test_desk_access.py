"""Who may enter which portal: each desk's rule (the site's default, restricted, off), set
from the admin API, checked after sign-in before the customer is added to the desk, and again
on every entry; a refusal is a page that says whom to contact, a row in the login activity,
and the customer added to nothing."""

from __future__ import annotations

import html
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.login import access
from app.models import DeskAccess, IdentityProvider, LoginEvent
from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import DESK_ID, callback, login, oauth2_idp, start

pytestmark = pytest.mark.usefixtures("fast_jira")

CONTACT = "Ask partners@acme.example for access."


async def set_access(
    client: httpx.AsyncClient, tenant: InstalledTenant, desk_id: str, **rule: Any
) -> httpx.Response:
    body = {"mode": "restricted", "contact": CONTACT} | rule
    return await client.put(
        f"/api/admin/portals/{desk_id}/access", json=body, headers=tenant.admin_headers()
    )


async def refusals(session: async_sessionmaker[AsyncSession]) -> list[str]:
    async with session() as s:
        rows = await s.scalars(select(LoginEvent).where(LoginEvent.outcome == "failure"))
        return [row.reason or "" for row in rows]


def assert_refused_page(page: httpx.Response) -> None:
    assert page.status_code == 403, page.text
    text = html.unescape(page.text)
    assert CONTACT in text
    assert "provider this desk" not in text  # the rule that decided is for the admin only
    assert "Traceback" not in text


# --- the decision ------------------------------------------------------------------------------


async def no_organizations() -> set[str]:
    return set()


async def in_partners() -> set[str]:
    return {"501"}


ADA = access.Entrant("idp-a", "ada@example.com", {"cognito:groups": ["staff", "partners"]})


@pytest.mark.parametrize(
    ("rule", "allowed"),
    [
        (access.AccessRule(), True),
        (access.AccessRule(mode="off"), False),
        (access.AccessRule(mode="restricted", idps=("idp-a",)), True),
        (access.AccessRule(mode="restricted", idps=("idp-b",)), False),
        (access.AccessRule(mode="restricted", email_domains=("example.com",)), True),
        (access.AccessRule(mode="restricted", email_domains=("partner.example",)), False),
        (
            access.AccessRule(
                mode="restricted",
                claims=(access.ClaimRule("cognito:groups", "contains", "partners"),),
            ),
            True,
        ),
        (
            access.AccessRule(
                mode="restricted", claims=(access.ClaimRule("cognito:groups", "contains", "part"),)
            ),
            False,  # a whole value, never part of one
        ),
        (
            access.AccessRule(
                mode="restricted",
                claims=(
                    access.ClaimRule("custom:tier", "equals", "gold"),
                    access.ClaimRule("cognito:groups", "contains", "staff"),
                ),
            ),
            True,  # any of the claim rules
        ),
        (access.AccessRule(mode="restricted", organizations=("501",)), False),
        (
            access.AccessRule(
                mode="restricted", idps=("idp-a",), email_domains=("partner.example",)
            ),
            False,  # every non-empty list must match
        ),
    ],
)
async def test_each_rule_and_their_combination(rule: access.AccessRule, allowed: bool) -> None:
    assert (await access.decide(rule, ADA, no_organizations)).allowed is allowed


async def test_organizations_are_asked_only_when_a_rule_names_them() -> None:
    asked: list[bool] = []

    async def organizations() -> set[str]:
        asked.append(True)
        return {"501"}

    await access.decide(access.AccessRule(mode="restricted", idps=("idp-a",)), ADA, organizations)
    assert asked == []
    rule = access.AccessRule(mode="restricted", organizations=("501",))
    assert (await access.decide(rule, ADA, organizations)).allowed
    # At sign-in the account is not known yet: the organization rule waits for the entry.
    assert (await access.decide(rule, ADA, None)).allowed


def test_a_claim_equals_one_value_and_contains_whole_items() -> None:
    assert access.ClaimRule("tier", "equals", "gold").matches({"tier": "gold"})
    assert not access.ClaimRule("tier", "equals", "gold").matches({"tier": ["gold", "x"]})
    assert access.ClaimRule("groups", "contains", "b").matches({"groups": "a, b,c"})
    assert not access.ClaimRule("groups", "contains", "b").matches({"groups": "abc"})
    assert not access.ClaimRule("groups", "contains", "b").matches({})


def test_a_session_keeps_bounded_string_claims_only() -> None:
    kept = access.kept_claims(
        {"a": "x" * 1000, "b": ["1", 2], "c": {"nested": 1}, "d": True, "x" * 300: "long name"}
    )
    assert kept == {"a": "x" * 256, "b": ["1", "2"], "d": "True"}


# --- the admin API -------------------------------------------------------------------------------


async def test_the_admin_sets_and_reads_a_desks_rule_and_sees_it_in_the_portal_list(
    client: httpx.AsyncClient, tenant: InstalledTenant, idp: dict[str, Any]
) -> None:
    saved = await set_access(
        client,
        tenant,
        DESK_ID,
        idps=[idp["id"]],
        email_domains=["Example.com"],
        claims=[{"claim": "cognito:groups", "op": "contains", "value": "partners"}],
        organizations=["501"],
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert body["email_domains"] == ["example.com"]
    got = await client.get(f"/api/admin/portals/{DESK_ID}/access", headers=tenant.admin_headers())
    assert got.json() == body
    portals = (await client.get("/api/admin/portals", headers=tenant.admin_headers())).json()
    assert portals[0]["access"]["mode"] == "restricted"


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"idps": ["no-such-idp"]}, "idps"),
        ({}, "mode"),  # restricted, and no rule at all
        ({"claims": [{"claim": "x" * 201, "op": "equals", "value": "v"}]}, "claims.0.claim"),
        ({"claims": [{"claim": "tier", "op": "like", "value": "v"}]}, "claims.0.op"),
        ({"email_domains": ["not a domain"]}, "email_domains"),
        ({"email_domains": [f"d{n}.example" for n in range(21)]}, "email_domains"),
        ({"organizations": ["acme"]}, "organizations"),
        ({"mode": "closed"}, "mode"),
    ],
)
async def test_a_rule_the_desk_cannot_have_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
    rule: dict[str, Any],
    field: str,
) -> None:
    refused = await set_access(client, tenant, DESK_ID, **rule)
    assert refused.status_code == 422, refused.text
    assert field in refused.json()["fields"], refused.json()
    async with session() as s:
        assert (await s.scalars(select(DeskAccess))).all() == []


async def test_a_provider_of_another_site_cannot_be_named(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    op: HostileOP,
) -> None:
    theirs = await oauth2_idp(client, other_tenant, op, name="Theirs")
    refused = await set_access(client, tenant, DESK_ID, idps=[theirs["id"]])
    assert refused.status_code == 422
    assert "idps" in refused.json()["fields"]


async def test_test_access_tells_each_desks_decision(
    client: httpx.AsyncClient, tenant: InstalledTenant, jira: FakeJira, idp: dict[str, Any]
) -> None:
    jira.add_desk("8", "PART", "Partner Desk")
    partners_only = await set_access(
        client, tenant, "8", idps=[idp["id"]], email_domains=["partner.example"]
    )
    assert partners_only.status_code == 200
    assert (await set_access(client, tenant, DESK_ID, mode="off")).status_code == 200
    tested = await client.post(
        "/api/admin/portals/access/test",
        json={"idp_id": idp["id"], "email": "ada@example.com", "claims": {}},
        headers=tenant.admin_headers(),
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["desks"] == [
        {"service_desk_id": DESK_ID, "allowed": False, "because": "the portal is off"},
        {
            "service_desk_id": "8",
            "allowed": False,
            "because": "email domain example.com is not one this desk accepts",
        },
    ]


# --- the customer's side ---------------------------------------------------------------------------


async def test_provider_a_is_refused_at_a_desk_for_provider_b_let_in_by_default_then_refused_after_tightening(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    op: HostileOP,
    idp: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    partner = await oauth2_idp(client, tenant, op, name="Partner SSO")
    jira.add_desk("8", "PART", "Partner Desk")
    assert (await set_access(client, tenant, "8", idps=[partner["id"]])).status_code == 200
    # Through provider A, at the default desk (whose picker offers both).
    started = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{idp['id']}")
    signed_in = await callback(client, op.authorize(started.headers["location"]))
    assert signed_in.status_code == 303, signed_in.text
    assert (await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")).status_code == 200
    [account] = jira.accounts.values()

    refused = await client.get(f"/portal/{tenant.tenant_id}/8")
    assert_refused_page(refused)
    assert account.account_id not in jira.desks["8"].customers
    assert any(
        "desk access refused: signed in through a provider" in r for r in await refusals(session)
    )

    # The admin tightens the default desk: the next page is refused too.
    assert (
        await set_access(client, tenant, DESK_ID, email_domains=["partner.example"])
    ).status_code == 200
    assert_refused_page(await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/requests"))


async def test_a_restricted_desk_offers_only_its_providers(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    partner = await oauth2_idp(client, tenant, op, name="Partner SSO")
    assert (await set_access(client, tenant, DESK_ID, idps=[partner["id"]])).status_code == 200
    started = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert started.status_code == 303  # one provider left: straight to it
    assert started.headers["location"].startswith(op.authorization_endpoint)
    not_offered = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{idp['id']}")
    assert not_offered.status_code == 404


async def test_an_off_portal_says_so_before_any_sign_in(
    client: httpx.AsyncClient, tenant: InstalledTenant, idp: dict[str, Any]
) -> None:
    assert (await set_access(client, tenant, DESK_ID, mode="off")).status_code == 200
    page = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert_refused_page(page)
    assert "not available" in page.text
    # No sign-in starts there either, only to be refused at its end.
    started = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{idp['id']}")
    assert started.status_code == 404


async def test_a_claim_rule_is_checked_at_sign_in_before_anyone_is_added(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    op: HostileOP,
    idp: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    del idp
    rule = [{"claim": "cognito:groups", "op": "contains", "value": "partners"}]
    assert (await set_access(client, tenant, DESK_ID, claims=rule)).status_code == 200
    refused = await login(client, tenant, op)
    assert_refused_page(refused)
    assert jira.accounts == {}  # nobody created, nobody added
    assert any("no claim matches" in r for r in await refusals(session))
    op.user_claims["cognito:groups"] = ["partners"]
    let_in = await callback(client, op.authorize(await start(client, tenant)))
    assert let_in.status_code == 303, let_in.text
    [account] = jira.accounts.values()
    assert account.account_id in jira.desks[DESK_ID].customers


async def test_an_organization_rule_is_checked_at_entry_and_the_desk_joined_only_then(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    op: HostileOP,
    idp: dict[str, Any],
) -> None:
    del idp
    jira.organizations[501] = {"id": "501", "name": "Partners", "members": set()}
    assert (await set_access(client, tenant, DESK_ID, organizations=["501"])).status_code == 200
    signed_in = await login(client, tenant, op)
    assert signed_in.status_code == 303
    [account] = jira.accounts.values()
    assert account.account_id not in jira.desks[DESK_ID].customers
    assert_refused_page(await client.get(signed_in.headers["location"]))
    assert account.account_id not in jira.desks[DESK_ID].customers
    jira.organizations[501]["members"].add(account.account_id)
    home = await client.get(signed_in.headers["location"])
    assert home.status_code == 200
    assert account.account_id in jira.desks[DESK_ID].customers


async def test_deleting_a_provider_a_rule_names_asks_first_and_never_opens_the_desk(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    op: HostileOP,
    idp: dict[str, Any],
) -> None:
    partner = await oauth2_idp(client, tenant, op, name="Partner SSO")
    jira.add_desk("8", "PART", "Partner Desk")
    assert (await set_access(client, tenant, DESK_ID, idps=[partner["id"]])).status_code == 200
    assert (
        await set_access(client, tenant, "8", idps=[partner["id"], idp["id"]])
    ).status_code == 200
    url = f"/api/admin/idps/{partner['id']}"
    asked = await client.delete(url, headers=tenant.admin_headers())
    assert asked.status_code == 409
    assert asked.json()["desks"] == [
        {"service_desk_id": DESK_ID, "locked_out": True},
        {"service_desk_id": "8", "locked_out": False},
    ]
    still = await client.get(f"/api/admin/portals/{DESK_ID}/access", headers=tenant.admin_headers())
    assert still.json()["idps"] == [partner["id"]]  # nothing changed without confirmation
    deleted = await client.delete(url, params={"confirm": "true"}, headers=tenant.admin_headers())
    assert deleted.status_code == 204
    desk7 = await client.get(f"/api/admin/portals/{DESK_ID}/access", headers=tenant.admin_headers())
    assert (desk7.json()["mode"], desk7.json()["idps"]) == ("off", [])
    desk8 = await client.get("/api/admin/portals/8/access", headers=tenant.admin_headers())
    assert (desk8.json()["mode"], desk8.json()["idps"]) == ("restricted", [idp["id"]])


async def test_test_access_can_use_the_providers_last_test_connection(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    idp: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    rule = [{"claim": "cognito:groups", "op": "contains", "value": "partners"}]
    assert (await set_access(client, tenant, DESK_ID, claims=rule)).status_code == 200
    body = {"idp_id": idp["id"], "from_last_test": True}
    never_tested = await client.post(
        "/api/admin/portals/access/test", json=body, headers=tenant.admin_headers()
    )
    assert never_tested.status_code == 422
    assert "from_last_test" in never_tested.json()["fields"]
    async with session() as s:
        row = await s.get(IdentityProvider, idp["id"])
        assert row is not None
        row.last_test_claims = {"email": "Pat@Partner.example", "cognito:groups": "partners,staff"}
        await s.commit()
    tested = await client.post(
        "/api/admin/portals/access/test", json=body, headers=tenant.admin_headers()
    )
    assert tested.status_code == 200, tested.text
    assert tested.json()["desks"] == [
        {"service_desk_id": DESK_ID, "allowed": True, "because": "matches this desk's rules"}
    ]
