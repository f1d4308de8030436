"""A Jira admin in a real browser adds a SAML 2.0 IdP on the admin page: the form's SAML
fields, an error for metadata that is not metadata, then the IdP's metadata pasted, and what
to import into the IdP shown after saving. Screenshots go to test-artifacts/."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from app.connect.jwt import query_string_hash
from tests.conftest import InstalledTenant
from tests.e2e.conftest import accessibility_problems
from tests.e2e.test_admin_browser import AP_STAND_IN
from tests.support.connect_tokens import tenant_token
from tests.support.saml_idp import SigningIdp

pytestmark = pytest.mark.e2e


async def test_admin_adds_a_saml_idp_from_its_metadata(
    tenant: InstalledTenant, live: str, browser: Any, artifacts: Path
) -> None:
    context_token = tenant_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, exp=int(time.time()) + 3600
    )
    page_query = "lic=none&xdm_e=https%3A%2F%2Facme.atlassian.net&cp="
    page_jwt = tenant_token(
        client_key=tenant.client_key,
        secret=tenant.shared_secret,
        qsh=query_string_hash("GET", "/admin", page_query),
    )
    context = await browser.new_context(viewport={"width": 1100, "height": 1000})
    await context.route(
        "https://connect-cdn.atl-paas.net/all.js",
        lambda route: route.fulfill(
            content_type="application/javascript", body=AP_STAND_IN % context_token
        ),
    )
    page = await context.new_page()
    await page.goto(f"{live}/admin?{page_query}&jwt={page_jwt}")
    await page.wait_for_selector("text=No identity provider yet")

    await page.click("#add-idp")
    await page.select_option("#preset", "saml")
    assert not await page.is_visible("#client_id")  # OAuth's fields are not SAML's
    assert await page.is_visible("textarea#f-metadata_xml")
    assert await page.input_value("#f-signed") == "either"
    assert await page.input_value("#f-sha1") == "refuse"
    await page.fill("#name", "Acme SAML")
    await page.fill("#f-metadata_xml", "<html><body>not metadata</body></html>")
    await page.click("#idp-form button[type=submit]")
    await page.wait_for_selector("[data-error=metadata_xml]:has-text('not SAML metadata')")
    await page.screenshot(path=str(artifacts / "1-saml-form-error.png"), full_page=True)
    assert await accessibility_problems(page) == []

    idp = SigningIdp(entity_id="https://idp.acme.example/saml")
    await page.fill("#f-metadata_xml", idp.metadata().decode())
    await page.check("#trust_email")
    await page.click("#idp-form button[type=submit]")
    await page.wait_for_selector("#saml-box:not([hidden])")
    assert idp.entity_id in await page.text_content("#idp-summary") or ""
    entity_id = await page.text_content("#sp-entity-id") or ""
    assert entity_id.startswith(f"{live}/saml/")
    assert entity_id.endswith("/metadata")
    assert (await page.text_content("#acs-url") or "").endswith("/acs")
    assert "Signing certificate CN=https://idp.acme.example/saml" in (
        await page.text_content("#idp-certificates") or ""
    )
    await page.screenshot(path=str(artifacts / "2-saml-idp-saved.png"), full_page=True)
    assert await accessibility_problems(page) == []
