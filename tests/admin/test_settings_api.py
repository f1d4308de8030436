"""Settings, portals and the Jira-administrator requirement of the admin API."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.jsm.directory import JiraDirectory
from tests.conftest import InstalledTenant
from tests.support.fake_jira import FakeJira


async def test_defaults(client: httpx.AsyncClient, tenant: InstalledTenant) -> None:
    body = (await client.get("/api/admin/settings", headers=tenant.admin_headers())).json()
    assert body == {
        "jira_auth": "app",
        "service_account_email": None,
        "has_service_account_token": False,
        "landing": "app_portal",
        "allowed_email_domains": [],
        "auto_create_customers": True,
        "organization_sync": False,
        # The Guard bridge answers nothing until the admin registers Atlassian's SP.
        "guard_bridge": {
            "enabled": False,
            "sp_entity_id": "",
            "acs_url": "",
            "sp_certificate": None,
            "bound_domains_only": False,
        },
    }


async def test_api_token_mode_needs_email_and_token_and_never_returns_the_token(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    missing = await client.put(
        "/api/admin/settings", json={"jira_auth": "api_token"}, headers=tenant.admin_headers()
    )
    assert missing.status_code == 422
    assert set(missing.json()["fields"]) == {"service_account_email", "service_account_token"}
    saved = await client.put(
        "/api/admin/settings",
        json={
            "jira_auth": "api_token",
            "service_account_email": "bot@acme.com",
            "service_account_token": "tok-123-secret",
        },
        headers=tenant.admin_headers(),
    )
    assert saved.status_code == 200
    assert saved.json()["has_service_account_token"] is True
    assert "tok-123-secret" not in saved.text
    assert (
        "tok-123-secret"
        not in (await client.get("/api/admin/settings", headers=tenant.admin_headers())).text
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"landing": "elsewhere"}, "landing"),
        ({"allowed_email_domains": ["not a domain"]}, "allowed_email_domains"),
        ({"auto_create_customers": "maybe"}, "auto_create_customers"),
        ({"unknown": 1}, "unknown"),
        ({"service_account_email": "support-bot"}, "service_account_email"),
        ({"landing": None}, "landing"),
        ({"jira_auth": None}, "jira_auth"),
        ({"auto_create_customers": None}, "auto_create_customers"),
        ({"organization_sync": None}, "organization_sync"),
        (
            {"allowed_email_domains": [f"d{n}.example.com" for n in range(201)]},
            "allowed_email_domains",
        ),
        ({"service_account_token": "t" * 2001}, "service_account_token"),
    ],
)
async def test_invalid_settings_name_the_field(
    client: httpx.AsyncClient, tenant: InstalledTenant, body: dict[str, object], field: str
) -> None:
    response = await client.put("/api/admin/settings", json=body, headers=tenant.admin_headers())
    assert response.status_code == 422
    assert field in response.json()["fields"]


async def test_portals_list_every_desk_with_its_substitute_link(
    client: httpx.AsyncClient, tenant: InstalledTenant, jira: FakeJira
) -> None:
    jira.page_size = 1  # forces paging
    jira.add_desk("8", "HR", "HR Help", portal_id="3")
    portals = (await client.get("/api/admin/portals", headers=tenant.admin_headers())).json()

    def default_access(desk_id: str) -> dict[str, object]:
        return {
            "service_desk_id": desk_id,
            "mode": "default",
            "idps": [],
            "email_domains": [],
            "claims": [],
            "organizations": [],
            "contact": "",
        }

    assert portals == [
        {
            "service_desk_id": "7",
            "portal_id": "7",
            "project_key": "ITH",
            "name": "IT Help",
            "substitute_link": f"https://sso.example.test/portal/{tenant.tenant_id}/7",
            "access": default_access("7"),
        },
        {
            "service_desk_id": "8",
            "portal_id": "3",
            "project_key": "HR",
            "name": "HR Help",
            "substitute_link": f"https://sso.example.test/portal/{tenant.tenant_id}/8",
            "access": default_access("8"),
        },
    ]


async def test_verify_reports_who_the_app_is_in_jira(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    body = (await client.post("/api/admin/settings/verify", headers=tenant.admin_headers())).json()
    assert body["ok"] is True
    assert body["display_name"] == "Portal SSO"


async def test_verify_reports_credentials_jira_refuses(
    client: httpx.AsyncClient, tenant: InstalledTenant, jira: FakeJira
) -> None:
    jira.service_account = ("bot@acme.com", "the-real-token")
    saved = await client.put(
        "/api/admin/settings",
        json={
            "jira_auth": "api_token",
            "service_account_email": "bot@acme.com",
            "service_account_token": "a-revoked-token",
        },
        headers=tenant.admin_headers(),
    )
    assert saved.status_code == 200
    response = await client.post("/api/admin/settings/verify", headers=tenant.admin_headers())
    assert response.status_code == 200
    assert response.json() == {
        "ok": False,
        "message": "Jira did not accept the app's credentials",
    }


async def test_a_revoked_service_account_token_does_not_lock_admins_out(
    client: httpx.AsyncClient, app: FastAPI, tenant: InstalledTenant, jira: FakeJira
) -> None:
    # Atlassian API tokens expire. The admin check is the app's own question, asked with its
    # Connect JWT: the admin can still open the settings and put in a new token.
    jira.service_account = ("bot@acme.com", "token-one")
    body = {"jira_auth": "api_token", "service_account_email": "bot@acme.com"}
    headers = tenant.admin_headers()
    first = await client.put(
        "/api/admin/settings", json=body | {"service_account_token": "token-one"}, headers=headers
    )
    assert first.status_code == 200
    jira.service_account = ("bot@acme.com", "token-two")  # token-one expired
    # What the app cached a few minutes (the admin answers among it) has expired too.
    app.state.services.get(JiraDirectory).forget(tenant.tenant_id)
    assert (await client.get("/api/admin/settings", headers=headers)).status_code == 200
    broken = await client.post("/api/admin/settings/verify", headers=headers)
    assert broken.json()["ok"] is False
    fixed = await client.put(
        "/api/admin/settings", json=body | {"service_account_token": "token-two"}, headers=headers
    )
    assert fixed.status_code == 200
    assert (await client.post("/api/admin/settings/verify", headers=headers)).json()["ok"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/admin/idps"),
        ("POST", "/api/admin/idps"),
        ("GET", "/api/admin/settings"),
        ("PUT", "/api/admin/settings"),
        ("GET", "/api/admin/portals"),
        ("GET", "/api/admin/logins"),
        ("GET", "/api/admin/presets"),
    ],
)
async def test_non_admins_are_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant, method: str, path: str
) -> None:
    response = await client.request(
        method, path, json={}, headers=tenant.admin_headers(sub="557058:agent-not-admin")
    )
    assert response.status_code == 403
    assert response.json()["message"] == "only Jira administrators can configure Portal SSO"


async def test_admin_check_is_cached(
    client: httpx.AsyncClient, tenant: InstalledTenant, jira: FakeJira
) -> None:
    for _ in range(3):
        assert (
            await client.get("/api/admin/settings", headers=tenant.admin_headers())
        ).status_code == 200
    assert jira.count("POST", "/rest/api/3/permissions/check") == 1
