"""A customer in a real browser: substitute link -> the real OP's login form -> desk home ->
raise a request -> My requests -> comment -> sign out. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import InstalledTenant
from tests.e2e.conftest import (
    accessibility_problems,
    configure_idp,
    double_click_over_a_slow_network,
)
from tests.support.fake_jira import FakeJira
from tests.support.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e


async def add_partner_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: OpenIDProvider
) -> None:
    """A second provider, for customers at partner.example (its client is never used)."""
    partners = await client.post(
        "/api/admin/idps",
        json={
            "name": "Partner SSO",
            "preset": "oidc",
            "issuer": op.issuer,
            "client_id": "partners",
            "client_secret": "partners-secret",
            "email_domains": ["partner.example"],
        },
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    assert partners.status_code == 201, partners.text


async def open_form_signing_in(page: Any, url: str) -> None:
    """Open the "Get IT help" form: the OP's login first, then back on the form asked for."""
    await page.goto(url)
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "any")
    await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Get IT help')")


async def test_customer_walks_through_the_portal(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()

    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.wait_for_selector("input[name=login]")
    assert page.url.startswith(openid_provider.issuer)
    await page.screenshot(path=str(artifacts / "1-identity-provider-login.png"))
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")

    await page.wait_for_selector("text=Welcome to the IT Help help center")
    assert page.url == f"{live}/portal/{tenant.tenant_id}/7"
    assert await page.is_visible("text=Ada Lovelace")
    await page.screenshot(path=str(artifacts / "2-desk-home.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.fill("#q", "help")
    assert not await page.is_visible("text=Request new hardware")
    await page.fill("#q", "")

    await page.click("text=Get IT help")
    await page.wait_for_selector("h1:has-text('Get IT help')")
    await page.fill("#f-summary", "My <b>laptop</b> will not start")
    await page.fill("#f-description", "It beeps three times.")
    await page.select_option("#f-customfield_10010", "2")
    await page.select_option("#f-customfield_10060", label="London \u203a Floor 1")
    await page.set_input_files(
        "#f-attachment",
        files=[{"name": "beeps.txt", "mimeType": "text/plain", "buffer": b"beep beep beep"}],
    )
    await page.screenshot(path=str(artifacts / "3-raise-request.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.click("button:has-text('Send')")

    await page.wait_for_selector("text=was raised")
    [key] = jira.requests
    assert jira.requests[key]["values"]["customfield_10010"] == {"id": "2"}
    assert jira.requests[key]["values"]["customfield_10060"] == {"id": "21", "child": {"id": "211"}}
    assert await page.is_visible("text=London \u203a Floor 1")
    assert [a["content"] for a in jira.requests[key]["attachments"]] == [b"beep beep beep"]
    assert await page.is_visible("text=(attached: beeps.txt)")
    assert await page.is_visible(
        "text=My <b>laptop</b> will not start"
    )  # shown as text, not markup
    await page.screenshot(path=str(artifacts / "4-request.png"), full_page=True)
    assert await accessibility_problems(page) == []

    await page.click("text=My requests")
    await page.wait_for_selector(f"text={key}")
    await page.screenshot(path=str(artifacts / "5-my-requests.png"), full_page=True)
    assert await accessibility_problems(page) == []

    await page.click(f"text={key}")
    await page.fill("#body", "Still beeping, any news?")
    await page.set_input_files(
        "#files", files=[{"name": "beeps.wav", "mimeType": "audio/wav", "buffer": b"RIFF"}]
    )
    await page.click("button:has-text('Comment')")
    await page.wait_for_selector("text=Still beeping, any news? (attached: beeps.wav)")
    assert jira.requests[key]["comments"][-1]["public"] is True
    await page.screenshot(path=str(artifacts / "6-commented.png"), full_page=True)
    assert await accessibility_problems(page) == []

    await page.click("text=Sign out")
    # oidc-provider asks whether to end its session too.
    await page.wait_for_selector("button[autofocus], button:has-text('Yes')")
    await page.screenshot(path=str(artifacts / "7-identity-provider-logout.png"))
    await page.click("button[autofocus], button:has-text('Yes')")
    await page.wait_for_selector("text=You have signed out")
    await page.screenshot(path=str(artifacts / "8-signed-out.png"))
    assert await accessibility_problems(page) == []

    # Signed out for real: the substitute link asks the OP again.
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.wait_for_selector("input[name=login]")

    # A link to a desk that does not exist: the error page is readable by everyone too.
    response = await page.goto(f"{live}/portal/{tenant.tenant_id}/999")
    assert response is not None
    assert response.status == 404
    await page.screenshot(path=str(artifacts / "9-error-page.png"))
    assert await accessibility_problems(page) == []
    await context.close()


async def test_typed_text_survives_a_session_that_expired_mid_form(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    context = await browser.new_context()
    page = await context.new_page()
    await open_form_signing_in(page, f"{live}/portal/{tenant.tenant_id}/7/create/71")
    await page.fill("#f-summary", "Printer jam on floor 3")
    await page.fill("#f-description", "A long description the customer would hate to type twice.")

    # The portal session expires while the customer types (the IdP's session lives on).
    kept = [c for c in await context.cookies() if not c["name"].startswith("portal_session_")]
    await context.clear_cookies()
    await context.add_cookies(kept)  # type: ignore[arg-type]
    await page.click("button:has-text('Send')")

    if await page.is_visible("input[name=login]"):
        await page.fill("input[name=login]", "ada")
        await page.fill("input[name=password]", "any")
        await page.click("button[type=submit]")
    await page.wait_for_selector("h1:has-text('Get IT help')")
    assert jira.requests == {}  # nothing was sent without a session
    assert await page.input_value("#f-summary") == "Printer jam on floor 3"
    assert "hate to type twice" in await page.input_value("#f-description")
    await page.screenshot(path=str(artifacts / "draft-restored.png"))
    assert await accessibility_problems(page) == []
    await page.click("button:has-text('Send')")
    await page.wait_for_selector("text=was raised")
    [item] = jira.requests.values()
    assert item["values"]["summary"] == "Printer jam on floor 3"
    await context.close()


async def test_a_customer_chooses_among_several_providers(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    await add_partner_idp(client, tenant, openid_provider)
    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    page = await context.new_page()
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.wait_for_selector("text=Sign in to get help")
    assert await page.is_visible("text=Continue with Partner SSO")
    await page.screenshot(path=str(artifacts / "picker.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.click("text=Continue with Acme SSO")
    await page.wait_for_selector("input[name=login]")
    assert page.url.startswith(openid_provider.issuer)
    await context.close()


async def test_the_address_a_customer_types_is_filled_in_at_their_provider(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    headers = {"Authorization": f"JWT {tenant.context_token()}"}
    [acme] = (await client.get("/api/admin/idps", headers=headers)).json()
    routed = await client.put(
        f"/api/admin/idps/{acme['id']}", json={"email_domains": ["acme.example"]}, headers=headers
    )
    assert routed.status_code == 200, routed.text
    # A second provider: with one, the substitute link goes straight to it, no picker.
    await add_partner_idp(client, tenant, openid_provider)
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.fill("#email", "ada@acme.example")
    await page.click("button:has-text('Continue')")
    await page.wait_for_selector("input[name=login]")
    assert page.url.startswith(openid_provider.issuer)
    # The real OP's sign-in page fills its login field from login_hint.
    assert await page.input_value("input[name=login]") == "ada@acme.example"
    await context.close()


async def test_back_after_signing_in_stays_in_the_portal(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    context = await browser.new_context()
    page = await context.new_page()
    to_op: list[str] = []
    page.on(
        "request",
        lambda request: (
            to_op.append(request.url) if request.url.startswith(openid_provider.issuer) else None
        ),
    )
    await page.goto(f"{live}/portal/{tenant.tenant_id}/7")
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "any")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Ada Lovelace")
    # Back from the portal: Cognito's hosted UI keeps the authorize request in its page's
    # URL, so Back runs it again and, signed in there, sends a new code with the spent state.
    # (oidc-provider's login page has a one-time URL instead; open the request directly.)
    await page.goto(to_op[0])
    await page.wait_for_selector("text=Ada Lovelace")
    assert page.url == f"{live}/portal/{tenant.tenant_id}/7"
    assert not await page.is_visible("text=We could not sign you in")
    await page.screenshot(path=str(artifacts / "back-after-sign-in.png"))
    await context.close()


async def test_a_double_click_on_send_raises_one_request(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    jira: FakeJira,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
) -> None:
    await configure_idp(client, tenant, openid_provider, live)
    context = await browser.new_context()
    page = await context.new_page()
    await open_form_signing_in(page, f"{live}/portal/{tenant.tenant_id}/7/create/71")
    await page.fill("#f-summary", "Printer jam on floor 3")
    await page.fill("#f-description", "Paper everywhere.")
    posts = await double_click_over_a_slow_network(
        page, button="form[data-draft] button[type=submit]", posts_to="**/create/71"
    )
    await page.wait_for_selector("text=was raised")
    assert len(posts) == 1
    assert len(jira.requests) == 1
    await context.close()
