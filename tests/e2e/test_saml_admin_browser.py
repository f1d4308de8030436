"""A Jira admin in a real browser adds a SAML 2.0 IdP on the admin page: the form's SAML
fields, an error for metadata that is not metadata, then the IdP's metadata pasted, and what
to import into the IdP shown after saving. Screenshots go to test-artifacts/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import InstalledTenant
from tests.e2e.conftest import accessibility_problems, connect_admin_context
from tests.support.saml_idp import SigningIdp

pytestmark = pytest.mark.e2e


async def test_admin_adds_a_saml_idp_from_its_metadata(
    tenant: InstalledTenant, live: str, browser: Any, artifacts: Path
) -> None:
    context, admin_url = await connect_admin_context(browser, tenant, live, height=1000)
    page = await context.new_page()
    await page.goto(admin_url)
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
