"""Requests shared with a customer, as the native portal shares them: as a participant, or
with one of their organizations. "My requests" filters them; each one opens (and nothing
else does); colleagues of the customer's own organizations can be added and removed."""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn

pytestmark = pytest.mark.usefixtures("fast_jira")

ACME, GLOBEX = 501, 502


@pytest.fixture
def colleagues(signed_in: SignedIn, jira: FakeJira) -> dict[str, str]:
    """Bob is in the customer's organization (Acme), Eve in another (Globex)."""
    bob = jira.add_account("bob@acme.example", "Bob Acme").account_id
    eve = jira.add_account("eve@globex.example", "Eve Globex").account_id
    jira.organizations[ACME] = {
        "id": str(ACME),
        "name": "Acme",
        "members": {signed_in.account_id, bob},
    }
    jira.organizations[GLOBEX] = {"id": str(GLOBEX), "name": "Globex", "members": {eve}}
    return {"bob": bob, "eve": eve}


def listed(page: httpx.Response) -> set[str]:
    return set(re.findall(r">([A-Z]+-[0-9]+)</a>", page.text))


async def test_my_requests_lists_what_is_shared_and_filters_it(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, colleagues: dict[str, str]
) -> None:
    mine = jira.add_request(DESK_ID, signed_in.account_id, "Mine")
    participating = jira.add_request(DESK_ID, colleagues["bob"], "Bob added me")
    jira.requests[participating]["participants"] = {signed_in.account_id}
    with_acme = jira.add_request(DESK_ID, colleagues["bob"], "For all of Acme")
    jira.requests[with_acme]["organizations"] = {ACME}
    with_globex = jira.add_request(DESK_ID, colleagues["eve"], "Globex only")
    jira.requests[with_globex]["organizations"] = {GLOBEX}
    base = f"{signed_in.home}/requests"
    assert listed(await client.get(base)) == {mine, participating, with_acme}
    assert listed(await client.get(base, params={"show": "mine"})) == {mine}
    assert listed(await client.get(base, params={"show": "participant"})) == {participating}
    assert listed(await client.get(base, params={"show": "organization"})) == {with_acme}
    assert listed(await client.get(base, params={"show": "made-up"})) == {
        mine,
        participating,
        with_acme,
    }
    for key in (participating, with_acme):
        before = jira.count("GET", "/rest/servicedeskapi/organization")
        page = await client.get(f"{base}/{key}")
        assert page.status_code == 200, key
        assert "This request was shared with you." in page.text
        # The customer's organizations are asked once per page, however many parts need them.
        assert jira.count("GET", "/rest/servicedeskapi/organization") == before + 1
    refused = await client.get(f"{base}/{with_globex}")
    assert refused.status_code == 404
    assert "Globex only" not in refused.text


async def test_a_customer_of_no_organization_sees_none_shared_that_way(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    other = jira.add_request(DESK_ID, "qm:other", "Shared with an organization")
    jira.requests[other]["organizations"] = {ACME}
    page = await client.get(f"{signed_in.home}/requests", params={"show": "organization"})
    assert listed(page) == set()
    assert (await client.get(f"{signed_in.home}/requests/{other}")).status_code == 404


async def csrf_of(client: httpx.AsyncClient, url: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', (await client.get(url)).text)
    assert found is not None
    return found.group(1)


async def test_a_colleague_of_the_customers_organization_is_added_and_removed(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, colleagues: dict[str, str]
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer")
    page = f"{signed_in.home}/requests/{key}"
    csrf = await csrf_of(client, page)
    added = await client.post(
        f"{page}/participants", data={"csrf": csrf, "email": "Bob@Acme.example"}
    )
    assert added.status_code == 303
    assert jira.requests[key]["participants"] == {colleagues["bob"]}
    shown = await client.get(added.headers["location"])
    assert "Bob Acme" in shown.text
    removed = await client.post(
        f"{page}/participants/remove", data={"csrf": csrf, "account_id": colleagues["bob"]}
    )
    assert removed.status_code == 303
    assert jira.requests[key]["participants"] == set()
    again = await client.post(
        f"{page}/participants/remove", data={"csrf": csrf, "account_id": colleagues["bob"]}
    )
    assert again.status_code == 409


@pytest.mark.parametrize(
    ("email", "says"),
    [
        ("eve@globex.example", "from your own organization only"),
        ("nobody@acme.example", "Nobody with that address"),
        ("not an address", "Enter your colleague's email address."),
    ],
)
async def test_someone_outside_the_customers_organizations_is_refused(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    colleagues: dict[str, str],
    email: str,
    says: str,
) -> None:
    del colleagues
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer")
    page = f"{signed_in.home}/requests/{key}"
    refused = await client.post(
        f"{page}/participants", data={"csrf": await csrf_of(client, page), "email": email}
    )
    assert refused.status_code == 422
    assert says in html.unescape(refused.text)
    assert not jira.requests[key].get("participants")


async def test_a_customer_of_no_organization_is_told_so(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    jira.add_account("bob@acme.example", "Bob Acme")
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer")
    page = f"{signed_in.home}/requests/{key}"
    refused = await client.post(
        f"{page}/participants",
        data={"csrf": await csrf_of(client, page), "email": "bob@acme.example"},
    )
    assert refused.status_code == 422
    assert "you are in none here" in html.unescape(refused.text)


async def test_leaving_a_request_shared_with_you_takes_it_out_of_reach(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, colleagues: dict[str, str]
) -> None:
    key = jira.add_request(DESK_ID, colleagues["bob"], "Bob's")
    jira.requests[key]["participants"] = {signed_in.account_id}
    page = f"{signed_in.home}/requests/{key}"
    left = await client.post(
        f"{page}/participants/remove",
        data={"csrf": await csrf_of(client, page), "account_id": signed_in.account_id},
    )
    assert left.status_code == 303
    assert left.headers["location"] == f"{signed_in.home}/requests"
    assert (await client.get(page)).status_code == 404


async def test_a_shared_request_can_be_commented_and_moved_like_ones_own(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, colleagues: dict[str, str]
) -> None:
    key = jira.add_request(DESK_ID, colleagues["bob"], "Bob's")
    jira.requests[key]["participants"] = {signed_in.account_id}
    page = f"{signed_in.home}/requests/{key}"
    csrf = await csrf_of(client, page)
    moved = await client.post(f"{page}/transition", data={"csrf": csrf, "transition": "11"})
    assert moved.status_code == 303
    assert jira.requests[key]["status"][0] == "Resolved"


async def test_a_request_is_shared_with_the_customers_organization(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira, colleagues: dict[str, str]
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Office wifi")
    page = f"{signed_in.home}/requests/{key}"
    shown = await client.get(page)
    assert "Share with your organization" in shown.text
    csrf = await csrf_of(client, page)
    outside = await client.post(f"{page}/share", data={"csrf": csrf, "organization": str(GLOBEX)})
    assert outside.status_code == 422
    assert jira.requests[key].get("organizations", set()) == set()
    shared = await client.post(f"{page}/share", data={"csrf": csrf, "organization": str(ACME)})
    assert shared.status_code == 303
    assert jira.requests[key]["organizations"] == {ACME}
    after = await client.get(page)
    assert "Shared with the organization: Acme" in after.text
    assert jira.count("GET", "/rest/api/3/field") == 1  # the field's id is kept per site
    assert "Share with your organization" not in after.text  # nothing left to share with
    del colleagues
