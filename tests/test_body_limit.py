"""Request bodies are bounded: nothing this app accepts comes near 1 MiB but the portal forms
that carry files (11 MiB), and a larger body is refused before it is read whole into memory
(a signed-in customer could otherwise post a gigabyte)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn

TOO_LARGE = 2 * 1024 * 1024


async def test_an_oversized_admin_api_body_gets_a_json_413(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.put(
        "/api/admin/settings",
        content=b'{"allowed_email_domains": ["' + b"a" * TOO_LARGE + b'"]}',
        headers=tenant.admin_headers() | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["message"] == "The request is too large."


async def test_an_oversized_portal_form_gets_a_readable_413_page(
    client: httpx.AsyncClient, signed_in: SignedIn, jira: FakeJira
) -> None:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Help")
    # A comment may carry 10 MiB of files, so its form is allowed 11 MiB in all.
    response = await client.post(
        f"{signed_in.home}/requests/{key}/comments", data={"body": "x" * (12 * 1024 * 1024)}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "The request is too large." in response.text
    assert jira.requests[key]["comments"] == []


async def test_an_oversized_unsigned_lifecycle_call_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/lifecycle/installed", content=b"{" + b" " * TOO_LARGE + b"}")
    assert response.status_code in (401, 413)


async def test_a_body_sent_without_a_length_is_counted_as_it_arrives(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"allowed_email_domains": ["'
        for _ in range(4):
            yield b"a" * (TOO_LARGE // 4)
        yield b'"]}'

    response = await client.put(
        "/api/admin/settings",
        content=chunks(),
        headers=tenant.admin_headers() | {"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_a_body_within_the_limit_is_read_as_usual(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.put(
        "/api/admin/settings",
        json={"allowed_email_domains": ["example.com"]},
        headers=tenant.admin_headers(),
    )
    assert response.status_code == 200
