"""What the admin page says about the app's link to a Forge site (``GET /api/admin/site``):
the site, and a warning when the hourly refresh stopped or no valid token is held."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from app.forge.auth import link_problem
from app.models import Tenant
from tests.support.forge_fixtures import ForgeTenant

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def forge_tenant_row(**fields: object) -> Tenant:
    values: dict[str, object] = {
        "id": "t1",
        "platform": "forge",
        "base_url": "https://acme.atlassian.net",
        "api_base_url": "https://api.atlassian.com/ex/jira/c1",
        "app_token_encrypted": "ciphertext",
        "app_token_expires_at": NOW + timedelta(hours=3),
        "last_trigger_at": NOW - timedelta(minutes=20),
    }
    return Tenant(**(values | fields))


def test_a_healthy_site_has_nothing_to_say() -> None:
    assert link_problem(forge_tenant_row(), now=NOW) is None


def test_two_days_without_the_hourly_trigger_look_like_an_uninstall() -> None:
    problem = link_problem(forge_tenant_row(last_trigger_at=NOW - timedelta(days=3)), now=NOW)
    assert problem is not None
    assert "2026-12-03 12:00 UTC" in problem
    assert "uninstalled" in problem


def test_no_valid_token_is_said_plainly() -> None:
    for row in (
        forge_tenant_row(app_token_encrypted=None),
        forge_tenant_row(app_token_expires_at=NOW - timedelta(seconds=1)),
    ):
        problem = link_problem(row, now=NOW)
        assert problem is not None
        assert "hourly refresh" in problem


@pytest.mark.usefixtures("forge_jwks")
async def test_the_admin_page_learns_its_site(
    client: httpx.AsyncClient, forge_tenant: ForgeTenant
) -> None:
    response = await client.get("/api/admin/site", headers=forge_tenant.headers())
    assert response.status_code == 200
    assert response.json() == {
        "site_url": forge_tenant.site.site_url,
        "platform": "forge",
        "warning": None,
    }


async def test_a_connect_site_has_no_forge_warning(
    client: httpx.AsyncClient, tenant: object
) -> None:
    response = await client.get("/api/admin/site", headers=tenant.admin_headers())  # type: ignore[attr-defined]
    assert response.json() == {
        "site_url": "https://acme.atlassian.net",
        "platform": "connect",
        "warning": None,
    }
