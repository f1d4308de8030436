"""Browser tests: Debian's Chromium driven by Playwright (it cannot download its own browser
here), against the app on a live uvicorn and the real OpenID Provider."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from app.config import Settings
from app.connect.jwt import query_string_hash
from tests.conftest import ROOT, InstalledTenant
from tests.support.connect_tokens import tenant_token
from tests.support.live_server import free_port, live_server
from tests.support.openid_provider import OpenIDProvider

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The real OP listens on plain http on loopback.
    return settings.model_copy(update={"app_env": "development", "dev_allow_http_loopback": True})


@pytest.fixture
def loopback(network: respx.MockRouter) -> None:
    """Let the app reach the real OP (and itself) on loopback; everything else stays faked."""
    network.route(host="127.0.0.1").pass_through()


@pytest.fixture
def live(settings: Settings, loopback: None) -> Iterator[str]:
    port = free_port()
    live_settings = settings.model_copy(
        update={
            "app_env": "development",
            "app_base_url": f"http://127.0.0.1:{port}",
            "dev_allow_http_loopback": True,
        }
    )
    with live_server(live_settings, port) as url:
        yield url


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(
            f"{CHROMIUM} is missing: run `make test` (it installs Debian's chromium)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture
def artifacts(request: pytest.FixtureRequest) -> Path:
    folder = ARTIFACTS / request.node.name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


AXE = ROOT / "tests" / "oidc_provider" / "node_modules" / "axe-core" / "axe.min.js"


async def accessibility_problems(page: Any) -> list[str]:
    """Serious and critical WCAG 2.1 A/AA failures axe-core finds on the page as it stands,
    one line each (rule, what it means, where). Run through DevTools, so the page's CSP, which
    allows no inline script, does not stop it."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text())
    result = await page.evaluate(
        """() => axe.run(document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        })"""
    )
    return [
        f"{v['id']}: {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


async def double_click_over_a_slow_network(page: Any, *, button: str, posts_to: str) -> list[str]:
    """A person's double click on ``button`` (two clicks 150 ms apart) while posts to
    ``posts_to`` take half a second: the second click lands while the first post is on its
    way. Returns the posts the browser sent (filled in as they go)."""
    posts: list[str] = []

    async def slow(route: Any) -> None:
        if route.request.method == "POST":
            posts.append(route.request.url)
            await asyncio.sleep(0.5)
        await route.continue_()

    await page.route(posts_to, slow)
    await page.evaluate(
        """(selector) => {
          const button = document.querySelector(selector);
          button.click();
          setTimeout(() => button.click(), 150);
        }""",
        button,
    )
    return posts


AP_STAND_IN = """
window.AP = {
  context: { getToken: function (callback) { setTimeout(function () { callback(%r); }, 0); } },
  resize: function () {}, sizeToParent: function () {}
};
"""


async def connect_admin_context(
    browser: Any, tenant: InstalledTenant, live: str, *, height: int
) -> tuple[Any, str]:
    """A browser context that opens the Connect admin page as Jira would (a page JWT in the
    URL, Atlassian's all.js stood in for with a context token), and that page's URL."""
    context_token = tenant_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, exp=int(time.time()) + 3600
    )
    page_query = "lic=none&xdm_e=https%3A%2F%2Facme.atlassian.net&cp="
    page_jwt = tenant_token(
        client_key=tenant.client_key,
        secret=tenant.shared_secret,
        qsh=query_string_hash("GET", "/admin", page_query),
    )
    context = await browser.new_context(viewport={"width": 1100, "height": height})
    # Stand in for Atlassian's all.js, which this machine cannot download.
    await context.route(
        "https://connect-cdn.atl-paas.net/all.js",
        lambda route: route.fulfill(
            content_type="application/javascript", body=AP_STAND_IN % context_token
        ),
    )
    return context, f"{live}/admin?{page_query}&jwt={page_jwt}"


async def configure_idp(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: OpenIDProvider,
    live: str,
    *,
    name: str = "Acme SSO",
    email_domains: list[str] | None = None,
) -> None:
    """An OIDC provider at the real OP, its client registered for the live service."""
    created = await client.post(
        "/api/admin/idps",
        json={
            "name": name,
            "preset": "oidc",
            "issuer": op.issuer,
            "client_id": "pending",
            "client_secret": "pending",
            "email_domains": email_domains or [],
        },
        headers=tenant.admin_headers(),
    )
    assert created.status_code == 201, created.text
    idp = created.json()
    registered = op.register_client(
        f"{live}/oidc/{idp['id']}/callback",
        post_logout_redirect_uris=[f"{live}/portal/{tenant.tenant_id}/signed-out"],
    )
    updated = await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"client_id": registered["client_id"], "client_secret": registered["client_secret"]},
        headers=tenant.admin_headers(),
    )
    assert updated.status_code == 200, updated.text
