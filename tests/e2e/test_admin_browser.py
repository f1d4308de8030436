"""A Jira admin in a real browser: the admin page with a stand-in for Atlassian's AP,
an AWS Cognito provider added through the form, Test connection in a popup against the real
(Cognito-flavoured) OpenID Provider, attribute mapping, Jira configuration, a copied
substitute link, and every tab. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import InstalledTenant
from tests.e2e.conftest import (
    accessibility_problems,
    connect_admin_context,
    double_click_over_a_slow_network,
)
from tests.support.fake_jira import FakeJira
from tests.support.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e


async def test_admin_configures_cognito_sso(
    tenant: InstalledTenant,
    jira: FakeJira,
    cognito_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    context, admin_url = await connect_admin_context(browser, tenant, live, height=900)
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live)
    page = await context.new_page()
    await page.clock.install()  # runs as usual; fast_forward skips ahead to check the flash
    await page.goto(admin_url)
    await page.wait_for_selector("text=No identity provider yet")

    # --- add an AWS Cognito provider through the form --------------------------------------
    await page.click("#add-idp")
    assert await page.input_value("#preset") == "cognito"
    assert await page.is_visible("text=amazoncognito.com")  # the domain help
    await page.click("#idp-form button[type=submit]")
    await page.wait_for_selector("[data-error=domain]:has-text('enter the cognito domain')")
    assert await page.is_visible("[data-error=client_id]:has-text('client (application) ID')")
    await page.screenshot(path=str(artifacts / "1-cognito-form-errors.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.clock.fast_forward(60_000)  # the admin looks away for a minute
    assert await page.is_visible("#flash[role=alert]:has-text('Some fields need attention.')")

    op_netloc = urlsplit(cognito_provider.issuer).netloc
    await page.fill("#name", "Acme customers")
    await page.fill("#f-domain", op_netloc)
    await page.fill("#f-issuer", cognito_provider.issuer)
    await page.fill("#client_id", "to-be-created")
    await page.fill("#client_secret", "to-be-created")
    # A person's double click on Save: one provider, not two.
    creations = await double_click_over_a_slow_network(
        page, button="#idp-form button[type=submit]", posts_to=f"{live}/api/admin/idps"
    )
    await page.wait_for_selector("#callback-box:not([hidden])")
    await page.unroute(f"{live}/api/admin/idps")
    assert len(creations) == 1
    callback_url = await page.inner_text("#callback-url")
    assert callback_url.startswith(f"{live}/oidc/")
    assert callback_url.endswith("/callback")
    assert await page.inner_text("#signout-url") == f"{live}/portal/{tenant.tenant_id}/signed-out"
    await page.screenshot(path=str(artifacts / "2-cognito-saved-callback-url.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # The admin registers the callback URL in the user pool's app client, then pastes its id/secret.
    client = cognito_provider.register_client(callback_url)
    await page.fill("#client_id", client["client_id"])
    await page.fill("#client_secret", client["client_secret"])
    await page.click("#idp-form button[type=submit]")
    await page.wait_for_selector("#flash:has-text('Saved.')")
    await page.wait_for_selector("#idp-table >> text=Acme customers")
    await page.screenshot(path=str(artifacts / "3-identity-providers.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # --- Test connection in a new top-level window ------------------------------------------
    async with context.expect_page() as popup_info:
        await page.click("#idp-table button:has-text('Test connection')")
    popup = await popup_info.value
    await popup.wait_for_selector("input[name=login]")
    await popup.fill("input[name=login]", "ada")
    await popup.fill("input[name=password]", "any")
    await popup.click("button[type=submit]")
    await popup.wait_for_selector("text=Success.")
    claims = await popup.inner_text("#claims")
    assert "cognito:groups" in claims
    assert "token_use" in claims
    assert "ada@example.com" in await popup.inner_text("#mapped")
    await popup.screenshot(path=str(artifacts / "4-test-connection-claims.png"), full_page=True)
    assert await accessibility_problems(popup) == []
    await popup.close()

    # --- attribute mapping, offered the claims seen in the test ------------------------------
    await page.reload()
    await page.wait_for_selector("#idp-table")
    await page.click("#tab-mapping")
    await page.wait_for_selector("#m-groups")
    options = await page.eval_on_selector_all("#claim-names option", "els => els.map(e => e.value)")
    assert "cognito:groups" in options
    await page.fill("#m-organizations", "cognito:groups")
    await page.click("#mapping-form button[type=submit]")
    await page.wait_for_selector("#flash:has-text('Mapping saved.')")
    await page.screenshot(path=str(artifacts / "5-attribute-mapping.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # --- Jira configuration: service account, verify, substitute links ----------------------
    jira.service_account = ("support-bot@acme.com", "api-token-123")
    await page.click("#tab-jira")
    await page.wait_for_selector("#portal-table")
    await page.check("input[name=jira_auth][value=api_token]")
    await page.fill("#service_account_email", "support-bot@acme.com")
    await page.fill("#service_account_token", "api-token-123")
    await page.click("#jira-form button[type=submit]")
    await page.wait_for_selector("#flash:has-text('Jira configuration saved.')")
    await page.click("#verify-jira")
    await page.wait_for_selector("#verify-result:has-text('Connected to Jira as Support bot')")
    link = await page.inner_text("#link-0")
    assert link == f"{live}/portal/{tenant.tenant_id}/7"
    await page.click("#portal-table button.copy")
    await page.wait_for_selector("#portal-table button:has-text('Copied')")
    assert await page.evaluate("navigator.clipboard.readText()") == link
    await page.screenshot(path=str(artifacts / "6-jira-configuration.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # --- settings and login activity ---------------------------------------------------------
    await page.click("#tab-settings")
    await page.check("#organization_sync")
    await page.click("#settings-form button[type=submit]")
    await page.wait_for_selector("#flash[role=status]:has-text('Settings saved.')")
    await page.screenshot(path=str(artifacts / "7-settings.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await page.clock.fast_forward(7_000)  # a confirmation goes by itself
    assert await page.is_hidden("#flash")
    await page.click("#tab-logins")
    await page.wait_for_selector("#login-table >> text=ada@example.com")
    assert await page.is_visible("#login-table >> text=Acme customers (test)")
    await page.screenshot(path=str(artifacts / "8-login-activity.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await context.close()
