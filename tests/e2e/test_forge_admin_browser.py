"""A Jira admin in a real browser on the Forge admin page: the Custom UI bundle as Forge
hosts it (on its own origin, with the host.js that `npm run build` makes from @forge/bridge),
and a stand-in for Forge's side of the bridge.

The stand-in replaces what runs in Atlassian's product frame: ``window.__bridge.callBridge``,
which @forge/bridge calls. For ``invoke`` (``invokeRemote``) it does what Forge does: it mints
a Forge Invocation Token for the installation with the admin as principal, adds an app system
token, and calls the live service at the path the page asked for; for ``navigate``
(``router.open``) it records the URL. Screenshots go to test-artifacts/."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.config import Settings
from tests.conftest import ROOT
from tests.e2e.conftest import accessibility_problems
from tests.support.forge_fixtures import ADMIN, ForgeTenant, forge_settings
from tests.support.forge_platform import FakeForge
from tests.support.openid_provider import OpenIDProvider

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("forge_jwks")]

BUNDLE = ROOT / "forge" / "static" / "admin"
UI_ORIGIN = "https://forge-ui.example.test"  # where Forge would host the resource
BRIDGE_STAND_IN = """
window.__bridge = {
  callBridge: function (name, payload) { return window.forgeBridge(name, payload === undefined ? null : payload); }
};
"""


@pytest.fixture
def settings(settings: Settings, forge: FakeForge) -> Settings:
    return forge_settings(settings, forge)


def serve_bundle(route: Any) -> Any:
    name = urlsplit(route.request.url).path.removeprefix("/") or "index.html"
    path = BUNDLE / name
    if not path.is_file():
        return route.fulfill(status=404, body="not found")
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return route.fulfill(status=200, body=path.read_bytes(), content_type=content_type)


async def test_admin_configures_sso_in_the_forge_admin_page(
    forge: FakeForge,
    forge_tenant: ForgeTenant,
    openid_provider: OpenIDProvider,
    live: str,
    browser: Any,
    artifacts: Path,
) -> None:
    if not (BUNDLE / "host.js").is_file():
        raise RuntimeError("forge/static/admin/host.js is missing: run `make test` (it builds it)")
    invocations: list[tuple[str, str]] = []
    opened: list[str] = []

    async def bridge(_source: Any, name: str, payload: Any) -> Any:
        if name == "navigate":
            opened.append(payload["url"])
            return None
        if name != "invoke":
            return None
        assert payload["invokeType"] == "ui-remote-fetch"
        invocations.append((payload["method"], payload["path"]))
        headers = forge_tenant.forge.headers(
            forge_tenant.site,
            principal=ADMIN,
            app_token=forge.app_token(forge_tenant.site),
        )
        async with httpx.AsyncClient(base_url=live, timeout=20) as http:
            response = await http.request(
                payload["method"],
                payload["path"],
                headers={**headers, **(payload.get("headers") or {})},
                json=payload.get("body"),
            )
        body = response.json() if response.content else None
        return {
            "success": True,
            "payload": {
                "status": response.status_code,
                "headers": {k: [v] for k, v in response.headers.items()},
                "body": body,
            },
        }

    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    await context.expose_binding("forgeBridge", bridge)
    await context.add_init_script(BRIDGE_STAND_IN)
    await context.route(f"{UI_ORIGIN}/**", serve_bundle)
    page = await context.new_page()
    await page.goto(f"{UI_ORIGIN}/index.html")
    await page.wait_for_selector("text=No identity provider yet")
    await page.wait_for_selector(f"#site-name:has-text('{forge_tenant.site.site_url}')")
    assert ("GET", "/api/admin/presets") in invocations
    await page.screenshot(path=str(artifacts / "1-forge-admin-page.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # --- add a generic OpenID Connect provider through the form -----------------------------
    await page.click("#add-idp")
    await page.select_option("#preset", "oidc")
    await page.fill("#name", "Acme customers")
    await page.fill("#f-issuer", openid_provider.issuer)
    await page.fill("#client_id", "to-be-created")
    await page.fill("#client_secret", "to-be-created")
    await page.click("#idp-form button[type=submit]")
    await page.wait_for_selector("#callback-box:not([hidden])")
    callback_url = await page.inner_text("#callback-url")
    assert callback_url.startswith(f"{live}/oidc/")
    assert ("POST", "/api/admin/idps") in invocations
    client = openid_provider.register_client(callback_url)
    await page.fill("#client_id", client["client_id"])
    await page.fill("#client_secret", client["client_secret"])
    await page.click("#idp-form button[type=submit]")
    await page.wait_for_selector("#flash:has-text('Saved.')")
    await page.screenshot(path=str(artifacts / "2-forge-identity-providers.png"), full_page=True)
    assert await accessibility_problems(page) == []

    # --- Test connection: Custom UI asks Forge to open the window (router.open) --------------
    await page.click("#idp-table button:has-text('Test connection')")
    await page.wait_for_selector("#flash:has-text('Test connection opened')")
    [test_url] = opened
    assert test_url.startswith(f"{live}/")
    popup = await context.new_page()
    await popup.goto(test_url)
    await popup.wait_for_selector("input[name=login]")
    await popup.fill("input[name=login]", "ada")
    await popup.fill("input[name=password]", "any")
    await popup.click("button[type=submit]")
    await popup.wait_for_selector("text=Success.")
    assert "ada@example.com" in await popup.inner_text("#mapped")
    await popup.close()

    # --- substitute links, from Jira through the app system token ----------------------------
    await page.click("#tab-jira")
    await page.wait_for_selector("#portal-table")
    assert await page.inner_text("#link-0") == f"{live}/portal/{forge_tenant.tenant_id}/7"
    await page.screenshot(path=str(artifacts / "3-forge-substitute-links.png"), full_page=True)
    assert await accessibility_problems(page) == []
    await context.close()
