"""The Guard bridge in a real browser: a customer sent by Atlassian's SP (stood in for: its
AuthnRequest, and its ACS caught by the browser) chooses their provider, signs in at the
real OpenID Provider, and arrives at the ACS with a Response that verifies; and the admin
sets the bridge up on its page. Screenshots go to test-artifacts/."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from app.saml.authn import redirect
from app.saml.metadata import parse_metadata
from app.saml.response import ServiceProvider, TrustedIdp, verify_response
from tests.conftest import InstalledTenant
from tests.e2e.conftest import accessibility_problems, configure_idp, connect_admin_context
from tests.support.guard_bridge import ACS_URL, SP_ENTITY_ID, register_bridge
from tests.support.openid_provider import OpenIDProvider

pytestmark = pytest.mark.e2e


async def test_a_customer_goes_from_atlassian_through_their_provider_and_back(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(
        client, tenant, openid_provider, live, name="Acme SSO", email_domains=["example.com"]
    )
    await configure_idp(
        client, tenant, openid_provider, live, name="Partner SSO", email_domains=["partner.example"]
    )
    assert (await register_bridge(client, tenant)).status_code == 200
    async with httpx.AsyncClient() as plain:
        metadata = parse_metadata(
            (await plain.get(f"{live}/saml-idp/{tenant.tenant_id}/metadata")).content,
            allow_http_loopback=True,  # the live service runs on plain http loopback
        )

    context = await browser.new_context(viewport={"width": 1100, "height": 800})
    posted: list[dict[str, list[str]]] = []

    async def atlassians_acs(route: Any) -> None:
        posted.append(parse_qs(route.request.post_data or ""))
        await route.fulfill(content_type="text/html", body="<h1>Atlassian (stand-in ACS)</h1>")

    await context.route("https://auth.atlassian.com/**", atlassians_acs)
    page = await context.new_page()
    # What Atlassian's customer SSO does when a customer opens the native portal.
    authn = redirect(
        sp_entity_id=SP_ENTITY_ID,
        acs_url=ACS_URL,
        sso_url=f"{live}/saml-idp/{tenant.tenant_id}/sso",
        relay_state="native-portal",
        signing_key=None,
        request_id="_atl-browser",
    )
    await page.goto(authn.url)
    await page.wait_for_selector("text=Continue with Acme SSO")
    assert page.url.startswith(f"{live}/portal/{tenant.tenant_id}/guard/")
    await page.screenshot(path=str(artifacts / "1-provider-choice.png"), full_page=True)
    assert await accessibility_problems(page) == []

    await page.fill("#email", "ada@example.com")  # routed by domain to Acme SSO
    await page.click("button:has-text('Continue')")
    await page.wait_for_selector("input[name=login]")
    assert page.url.startswith(openid_provider.issuer)
    await page.fill("input[name=login]", "ada")
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Atlassian (stand-in ACS)")
    assert page.url == ACS_URL
    await page.screenshot(path=str(artifacts / "2-arrived-at-atlassian.png"))

    [form] = posted
    assert form["RelayState"] == ["native-portal"]
    identity = verify_response(
        base64.b64decode(form["SAMLResponse"][0]),
        sp=ServiceProvider(SP_ENTITY_ID, ACS_URL),
        idp=TrustedIdp(
            metadata.entity_id,
            [c.certificate for c in metadata.signing_certificates],
            require="both",
        ),
        expected_request_id="_atl-browser",
        now=datetime.now(UTC),
    )
    assert identity.name_id == "ada@example.com"


async def test_the_admin_sets_up_the_native_portal(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    await configure_idp(
        client, tenant, openid_provider, live, name="Acme SSO", email_domains=["acme.example"]
    )
    await configure_idp(
        client,
        tenant,
        openid_provider,
        live,
        name="Partner SSO",
        email_domains=["partner.example", "acme.example"],
    )
    context, admin_url = await connect_admin_context(browser, tenant, live, height=1600)
    page = await context.new_page()
    await page.goto(admin_url)
    await page.click("#tab-guard")
    await page.wait_for_selector(
        f"#guard-entity-id:has-text('/saml-idp/{tenant.tenant_id}/metadata')"
    )
    assert (await page.text_content("#guard-sso-url") or "").endswith(
        f"/saml-idp/{tenant.tenant_id}/sso"
    )
    assert (await page.text_content("#guard-certificate") or "").startswith(
        "-----BEGIN CERTIFICATE-----"
    )
    assert await page.is_visible("text=acme.example can be asserted by 2 providers")

    await page.check("#guard_enabled")
    await page.click("#guard-form button[type=submit]")
    await page.wait_for_selector(
        "[data-error='guard_bridge.acs_url']:has-text('Assertion Consumer')"
    )
    assert await page.get_attribute("#guard_acs_url", "aria-invalid") == "true"

    await page.fill("#guard_sp_entity_id", SP_ENTITY_ID)
    await page.fill("#guard_acs_url", ACS_URL)
    await page.click("#guard-form button[type=submit]")
    await page.wait_for_selector("text=Saved: Portal SSO answers Atlassian's sign-in requests.")
    await page.screenshot(path=str(artifacts / "guard-setup.png"), full_page=True)
    assert await accessibility_problems(page) == []
    stored = await client.get("/api/admin/settings", headers=tenant.admin_headers())
    assert stored.json()["guard_bridge"] == {
        "enabled": True,
        "sp_entity_id": SP_ENTITY_ID,
        "acs_url": ACS_URL,
        "sp_certificate": None,
        "bound_domains_only": False,
    }

    await page.click("#guard-prepare-key")
    await page.wait_for_selector("#guard-switch-key:not([hidden])")
    assert await page.is_visible("text=next: give Guard this certificate, then switch")
