"""Logs, metrics and request ids; secrets never reach the logs."""

from __future__ import annotations

import gc
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.main import create_app
from app.observability import JsonFormatter
from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import callback, failures, start


@pytest.mark.usefixtures("idp")
async def test_a_full_login_logs_ids_and_outcome_but_no_secret(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    location = await start(client, tenant)
    callback_url = op.authorize(location)
    response = await callback(client, callback_url)
    assert response.status_code == 303
    await client.get(response.headers["location"])

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    text = "\n".join(lines)
    query = parse_qs(urlsplit(callback_url).query)
    secrets_seen = [
        query["code"][0],
        query["state"][0],
        tenant.shared_secret,
        op.client_secret,
        *op.issued,
        *[cookie.value for cookie in client.cookies.jar],
        parse_qs(urlsplit(location).query)["nonce"][0],
    ]
    for secret in secrets_seen:
        assert secret not in text
    login_lines = [line for line in lines if '"message": "login"' in line]
    assert login_lines, text
    assert '"outcome": "success"' in login_lines[0]
    assert f'"tenant_id": "{tenant.tenant_id}"' in login_lines[0]
    assert '"request_id": "' in login_lines[0]
    request_lines = [
        line for line in lines if '"message": "request"' in line and "/callback" in line
    ]
    assert request_lines
    assert "?" not in request_lines[0].split('"path": "')[1].split('"')[0]


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "req-12345678"})
    assert echoed.headers["x-request-id"] == "req-12345678"
    replaced = await client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert replaced.headers["x-request-id"] != "bad id\nwith newline"
    assert len(replaced.headers["x-request-id"]) == 16


@pytest.mark.usefixtures("idp")
async def test_metrics_count_logins_jira_calls_and_cache_use(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> None:
    assert (await callback(client, op.authorize(await start(client, tenant)))).status_code == 303
    op.claim_overrides = {"nonce": "wrong"}
    client.cookies.clear()
    await callback(client, op.authorize(await start(client, tenant)))
    body = (await client.get("/metrics")).text
    assert 'portal_sso_logins_total{idp="' in body
    assert 'outcome="success"' in body
    assert 'outcome="failure"' in body
    assert 'portal_sso_jira_request_seconds_count{method="POST",status="201"}' in body
    assert 'portal_sso_oidc_metadata_cache{result="hit"}' in body


async def test_readiness_and_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok"}
    for probe in ("/healthz", "/readyz", "/atlassian-connect.json"):
        assert (await client.head(probe)).status_code == 200, probe


@pytest.fixture
def settings(settings: Any) -> Any:
    return settings.model_copy(update={"login_starts_per_ip_per_minute": 3})


@pytest.mark.usefixtures("idp")
async def test_login_starts_are_rate_limited_per_ip(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    statuses = [(await client.get(f"/portal/{tenant.tenant_id}/7")).status_code for _ in range(4)]
    assert statuses == [303, 303, 303, 429]
    page = await client.get(f"/portal/{tenant.tenant_id}/7")
    assert "too many sign-in attempts" in page.text
    assert "location" not in page.headers


@pytest.mark.usefixtures("idp")
async def test_an_untrusted_proxy_in_front_is_reported_once(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for customer in ("203.0.113.9", "198.51.100.7"):
        started = await client.get(
            f"/portal/{tenant.tenant_id}/7", headers={"X-Forwarded-For": customer}
        )
        assert started.status_code == 303
    warnings = [r.getMessage() for r in caplog.records if "FORWARDED_ALLOW_IPS" in r.getMessage()]
    # The test client's address stands for the proxy's.
    assert len(warnings) == 1
    assert "127.0.0.1" in warnings[0]


@pytest.mark.usefixtures("idp")
async def test_refused_sign_in_responses_are_rate_limited_without_audit_rows(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """Replaying a used state (or inventing one) costs an audit row each time: past the
    per-IP limit the answer is 429 and nothing is written. Login starts are counted apart."""
    used = op.authorize(await start(client, tenant))
    assert (await callback(client, used)).status_code == 303
    client.cookies.clear()  # replayed elsewhere: this browser's own replay goes back in
    made_up = used.replace("state=", "state=x", 1)
    statuses = [(await callback(client, url)).status_code for url in [used, made_up] * 3]
    assert statuses == [400, 400, 400, 429, 429, 429]
    assert len(await failures(session)) == 3
    assert (
        "portal_sso_refused_callbacks_rate_limited_total 3.0" in (await client.get("/metrics")).text
    )
    # The customer can still start afresh: refusals did not use up the login starts.
    client.cookies.clear()
    assert (await client.get(f"/portal/{tenant.tenant_id}/7")).status_code == 303


async def test_a_served_app_freezes_what_start_up_built(settings: Any) -> None:
    # Full collections then skip the long-lived heap (72-90 ms pauses; mostly 2-9 ms frozen).
    # Only the served app does it: the tests build hundreds of apps in one process.
    async def frozen_after_startup(freeze: bool) -> int:
        gc.unfreeze()
        application = create_app(settings, freeze_after_startup=freeze)
        try:
            async with application.router.lifespan_context(application):
                return gc.get_freeze_count()
        finally:
            gc.unfreeze()

    assert await frozen_after_startup(False) == 0
    assert await frozen_after_startup(True) > 0
