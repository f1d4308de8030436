"""The app behind a minimal reverse proxy: served under a path prefix
(``APP_BASE_URL=https://host/sso``) that the proxy strips, and reached over plain http with
the proxy's own Host header (nginx's ``proxy_pass`` without ``proxy_set_header``). Every
address the app hands the browser must still carry the prefix and stay on the public
origin, or the browser leaves the app (or refuses mixed content)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, NoReturn
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from app.config import Settings
from tests.conftest import APP_BASE_URL, InstalledTenant
from tests.support.connect_tokens import page_token
from tests.support.fake_jira import FakeJira
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import DESK_ID

PREFIX = "/sso"
PUBLIC = f"{APP_BASE_URL}{PREFIX}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    prefixed = settings.model_copy(update={"app_base_url": PUBLIC})
    assert prefixed.base_path == PREFIX
    return prefixed


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The browser, talking to the public URL through the proxy."""

    async def proxy(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["path"].startswith(PREFIX + "/"), f"left the app: {scope['path']}"
        headers = [(k, v) for k, v in scope["headers"] if k != b"host"]
        forwarded = {
            "path": scope["path"].removeprefix(PREFIX),
            "raw_path": scope["raw_path"].removeprefix(PREFIX.encode()),
            "scheme": "http",
            "server": ("app", 8000),
            "headers": [*headers, (b"host", b"app:8000")],
        }
        await app({**scope, **forwarded}, receive, send)

    # As a server does: the app's response is what the browser gets (no re-raise to us).
    transport = httpx.ASGITransport(app=proxy, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
        yield http


async def follow(client: httpx.AsyncClient, location: str) -> httpx.Response:
    """A redirect the browser follows: to an absolute URL, or a path on the app's host."""
    return await client.get(location if "://" in location else f"{APP_BASE_URL}{location}")


async def sign_in(client: httpx.AsyncClient, op: HostileOP, start: str) -> httpx.Response:
    """Open ``start`` without a session, sign in at the OP; the callback's answer."""
    started = await follow(client, start)
    assert started.status_code == 303
    return await follow(client, op.authorize(started.headers["location"]))


async def test_a_deep_link_signs_in_and_comes_back_under_the_prefix(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    page = await follow(client, f"{home}/requests/ITH-1")
    assert page.status_code == 303
    to_sign_in = urlsplit(page.headers["location"])
    assert to_sign_in.path == home
    assert parse_qs(to_sign_in.query)["return_to"] == [f"{home}/requests/ITH-1"]

    landed = await sign_in(client, op, page.headers["location"])
    assert landed.status_code == 303, landed.text
    assert landed.headers["location"] == f"{home}/requests/ITH-1"


async def test_a_plain_sign_in_lands_on_the_desk_under_the_prefix(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    landed = await sign_in(client, op, home)
    assert landed.headers["location"] == home
    portal = await follow(client, home)
    assert portal.status_code == 200, portal.text
    assert f'href="{home}/requests"' in portal.text


async def test_cookies_stay_under_the_prefix(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    # __Host- cookies would need Path=/ and reach every application on the host: under a
    # prefix the cookies are __Secure- and scoped to the app's own paths instead.
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    started = await follow(client, home)
    flow = started.headers["set-cookie"]
    assert flow.startswith("__Secure-sso_flow=")
    assert f"Path={PREFIX}/;" in flow  # the OIDC callback and the SAML ACS are both below
    landed = await follow(client, op.authorize(started.headers["location"]))
    session = landed.headers["set-cookie"]
    assert session.startswith(f"__Secure-portal_session_{tenant.tenant_id}=")
    assert f"Path={PREFIX}/portal/{tenant.tenant_id};" in session


async def test_a_return_path_outside_the_prefix_is_ignored(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    outside = urlencode({"return_to": f"/portal/{tenant.tenant_id}/{DESK_ID}"})
    landed = await sign_in(client, op, f"{home}?{outside}")
    assert landed.headers["location"] == home


async def assert_links_stay_in_the_app(client: httpx.AsyncClient, page: httpx.Response) -> None:
    links = re.findall(r'(?:href|src|action)="([^"#]+)"', page.text)
    assert links
    for link in links:
        parts = urlsplit(link)
        assert parts.path.startswith(f"{PREFIX}/"), f"{link} leaves the app"
        assert not parts.netloc or link.startswith(PUBLIC), f"{link} leaves the public origin"
        path = parts.path
        if "/static/" in path:
            assert (await follow(client, link)).status_code == 200


async def test_page_links_and_assets_carry_the_prefix(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    await sign_in(client, op, home)
    await assert_links_stay_in_the_app(client, await follow(client, home))

    missing = await follow(client, f"{home}/requests/ITH-999")
    assert missing.status_code == 404
    assert f'href="{home}"' in missing.text  # the way back to the help center
    await assert_links_stay_in_the_app(client, missing)


async def test_the_page_for_an_unexpected_error_keeps_its_assets_under_the_prefix(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    idp: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    del idp

    def a_bug(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise KeyError("code_verifier")

    monkeypatch.setattr("app.idps.repository.save_login_state", a_bug)
    page = await follow(client, f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}")
    assert page.status_code == 500
    assert "Something went wrong on our side." in page.text
    await assert_links_stay_in_the_app(client, page)


async def test_the_try_again_link_of_an_error_page_stays_on_the_public_origin(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    jira: FakeJira,
) -> None:
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    await sign_in(client, op, home)
    jira.fail("GET", f"/rest/servicedeskapi/servicedesk/{DESK_ID}/requesttypegroup", 503, times=9)
    page = await follow(client, f"{home}?tab=1")
    assert page.status_code == 502
    assert f'href="{home}?tab=1"' in page.text  # Try again
    await assert_links_stay_in_the_app(client, page)


async def test_portal_pages_stay_out_of_shared_caches_under_the_prefix(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    del idp
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    await sign_in(client, op, home)
    portal = await follow(client, home)
    assert portal.headers["cache-control"] == "no-store"


async def test_connect_requests_verify_against_the_path_below_the_prefix(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    # Jira signs the path relative to the app's baseUrl (the qsh), here /admin.
    token = page_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, method="GET", path="/admin"
    )
    page = await client.get("/admin", params={"jwt": token})
    assert page.status_code == 200, page.text
    assert f"{PREFIX}/api/admin" in page.text  # where the page's script calls the API
    for asset in ("admin.css", "admin.js", "host-connect.js"):
        assert f'="{PREFIX}/admin-ui/{asset}?v=' in page.text

    refused = await client.get("/api/admin/idps")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/json"


@pytest.mark.parametrize("query", ["", "?return_to=%2Fx"])
async def test_a_trailing_slash_redirects_by_path_whatever_the_host(
    client: httpx.AsyncClient, tenant: InstalledTenant, query: str
) -> None:
    # A substitute link pasted with a slash at the end; the Host is the proxy's, or forged.
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    for host in ("sso.example.test", "evil.example"):
        response = await client.get(f"{APP_BASE_URL}{home}/{query}", headers={"Host": host})
        assert response.status_code == 308
        assert response.headers["location"] == f"{home}{query}"


@pytest.mark.parametrize("path", ["//evil.example/", "/\\evil.example/", "/nothing-here/"])
async def test_a_trailing_slash_on_no_page_is_not_found(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(f"{APP_BASE_URL}{PREFIX}{path}")
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_a_trailing_slash_on_a_form_post_is_not_redirected(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    home = f"{PREFIX}/portal/{tenant.tenant_id}/{DESK_ID}"
    response = await client.post(f"{APP_BASE_URL}{home}/login/", data={"email": "a@b.example"})
    assert response.status_code == 404
    assert "location" not in response.headers
