"""JSM's notification emails, pointed at Portal SSO: a request link opens that request after
sign-in, in either shape the README gives admins, or the native portal where the site lands
customers there."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn

pytestmark = pytest.mark.usefixtures("fast_jira")


async def test_a_request_link_opens_the_customers_request(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Laptop will not start")
    link = await client.get(f"/portal/{signed_in.tenant.tenant_id}/{DESK_ID}/{key}")
    assert link.status_code == 303
    assert link.headers["location"] == f"{signed_in.home}/requests/{key}"
    page = await client.get(link.headers["location"])
    assert page.status_code == 200
    assert "Laptop will not start" in page.text


async def test_the_native_path_shape_is_matched_to_its_desk(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Printer jam")
    portal_id = jira.desks[DESK_ID].portal_id
    link = await client.get(
        f"/portal/{signed_in.tenant.tenant_id}/servicedesk/customer/portal/{portal_id}/{key}"
    )
    assert link.status_code == 303
    assert link.headers["location"] == f"{signed_in.home}/requests/{key}"
    unknown = await client.get(
        f"/portal/{signed_in.tenant.tenant_id}/servicedesk/customer/portal/999/{key}"
    )
    assert unknown.status_code == 404


async def test_without_a_session_the_link_goes_through_sign_in_and_back(
    client: httpx.AsyncClient, tenant: InstalledTenant, jira: FakeJira, idp: dict[str, object]
) -> None:
    del idp
    key = jira.add_request(DESK_ID, "qm:someone", "Anything")
    link = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/{key}")
    page = await client.get(link.headers["location"])
    assert page.status_code == 303
    assert (
        f"return_to=%2Fportal%2F{tenant.tenant_id}%2F{DESK_ID}%2Frequests%2F{key}"
        in (page.headers["location"])
    )


async def test_another_customers_request_is_not_found_through_the_link(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, "qm:someone-else", "Not yours")
    link = await client.get(f"/portal/{signed_in.tenant.tenant_id}/{DESK_ID}/{key}")
    page = await client.get(link.headers["location"])
    assert page.status_code == 404
    assert "Not yours" not in page.text


async def test_where_customers_land_in_the_native_portal_the_link_goes_there(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Native")
    saved = await client.put(
        "/api/admin/settings",
        json={"landing": "jsm_portal"},
        headers=signed_in.tenant.admin_headers(),
    )
    assert saved.status_code == 200
    link = await client.get(f"/portal/{signed_in.tenant.tenant_id}/{DESK_ID}/{key}")
    assert link.status_code == 303
    assert link.headers["location"] == (
        f"https://acme.atlassian.net/servicedesk/customer/portal/7/{key}"
    )


@pytest.mark.parametrize("last", ["not-a-key", "it-1", "IT-0", "IT-1%2F..%2Fx"])
async def test_a_malformed_link_is_a_clear_404(
    client: httpx.AsyncClient, signed_in: SignedIn, last: str
) -> None:
    page = await client.get(f"/portal/{signed_in.tenant.tenant_id}/{DESK_ID}/{last}")
    assert page.status_code == 404
    assert "Traceback" not in page.text
