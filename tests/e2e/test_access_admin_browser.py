"""A Jira admin in a real browser restricts who may enter a desk's portal: the desk list
shows each desk's access at a glance, the form refuses a restricted desk without rules, and
saves one with a claim rule and a contact. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import InstalledTenant
from tests.e2e.conftest import accessibility_problems, configure_idp, connect_admin_context
from tests.support.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e


async def test_admin_restricts_a_desk_to_a_claim(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(client, tenant, openid_provider, live, name="Acme SSO")
    await configure_idp(client, tenant, openid_provider, live, name="Partner SSO")
    context, admin_url = await connect_admin_context(browser, tenant, live, height=1200)
    page = await context.new_page()
    await page.goto(admin_url)
    await page.wait_for_selector("text=Acme SSO")
    await page.click("#tab-jira")
    await page.wait_for_selector("#portal-table >> text=site default")
    await page.click("button:has-text('Edit access')")
    await page.wait_for_selector("#access-form:not([hidden])")

    await page.check("input[name=mode][value=restricted]")
    await page.click("#access-form button[type=submit]")
    await page.wait_for_selector("[data-error=mode]:has-text('needs at least one rule')")

    await page.check("#access-idps >> text=Partner SSO")
    await page.fill("#access_claims", "cognito:groups contains partners")
    await page.fill("#access_contact", "Ask partners@acme.example for access.")
    await page.screenshot(path=str(artifacts / "1-desk-access-form.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.click("#access-form button[type=submit]")
    await page.wait_for_selector("text=Access to IT Help saved.")
    await page.wait_for_selector("#portal-table >> text=restricted")
    await page.screenshot(path=str(artifacts / "2-desk-list-with-access.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # Test access: a partner without the group claim would be refused, one with it let in.
    await page.select_option("#test_idp", label="Partner SSO")
    await page.fill("#test_email", "pat@partner.example")
    await page.fill("#test_claims", '{"cognito:groups": ["staff"]}')
    await page.click("#access-test-form button[type=submit]")
    await page.wait_for_selector("#access-test-table >> text=no claim matches")
    await page.fill("#test_claims", '{"cognito:groups": ["partners"]}')
    await page.click("#access-test-form button[type=submit]")
    await page.wait_for_selector("#access-test-table >> text=matches this desk's rules")
    await page.screenshot(path=str(artifacts / "3-test-access.png"), full_page=True)
    assert await accessibility_problems(page) == []

    saved = (await client.get("/api/admin/portals/7/access", headers=tenant.admin_headers())).json()
    assert saved["mode"] == "restricted"
    assert saved["claims"] == [{"claim": "cognito:groups", "op": "contains", "value": "partners"}]
    assert saved["contact"] == "Ask partners@acme.example for access."
    assert len(saved["idps"]) == 1
    await context.close()
