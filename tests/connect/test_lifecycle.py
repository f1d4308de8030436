"""The lifecycle routes end to end over ASGI: signed install, reinstall, uninstall, enable."""

from __future__ import annotations

import asyncio
import secrets

import httpx
import jwt
import pytest
import respx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.connect.jwt import query_string_hash
from app.tenants import repository as tenants
from tests.conftest import (
    APP_BASE_URL,
    JIRA_BASE_URL,
    KEYS_URL,
    InstalledTenant,
    install_body,
    install_tenant,
)
from tests.support.connect_tokens import InstallSigner, page_token, tenant_token


async def _tenant(session: async_sessionmaker[AsyncSession], client_key: str) -> tenants.Tenant:
    async with session() as s:
        row = await tenants.get_by_client_key(s, client_key)
    assert row is not None
    return row


async def test_signed_install_creates_tenant_with_encrypted_secret(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    key_cdn: respx.Route,
    session: async_sessionmaker[AsyncSession],
) -> None:
    response = await install_tenant(client, signer, client_key="jira:abc", shared_secret="s" * 40)
    assert response.status_code == 204
    row = await _tenant(session, "jira:abc")
    assert row.base_url == JIRA_BASE_URL
    assert row.installed
    assert row.enabled
    assert "s" * 40 not in row.shared_secret_encrypted
    assert row.id != "jira:abc"
    assert len(row.id) >= 16
    assert key_cdn.call_count == 1


async def test_install_key_is_cached_by_kid(
    client: httpx.AsyncClient, signer: InstallSigner, key_cdn: respx.Route
) -> None:
    for _ in range(3):
        assert (await install_tenant(client, signer)).status_code == 204
    assert key_cdn.call_count == 1


async def test_unsigned_install_of_a_new_client_key_is_refused(
    client: httpx.AsyncClient, session: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post("/lifecycle/installed", json=install_body("jira:new", "x" * 40))
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    async with session() as s:
        assert await tenants.get_by_client_key(s, "jira:new") is None


async def test_hs256_install_is_refused_even_with_the_body_secret(
    client: httpx.AsyncClient, session: async_sessionmaker[AsyncSession]
) -> None:
    secret = "x" * 40
    token = tenant_token(
        client_key="jira:new", secret=secret, qsh=query_string_hash("POST", "/lifecycle/installed")
    )
    response = await client.post(
        "/lifecycle/installed",
        json=install_body("jira:new", secret),
        headers={"Authorization": f"JWT {token}"},
    )
    assert response.status_code == 401
    assert "RS256" in response.json()["message"]


async def test_hs256_reinstall_cannot_take_over_an_existing_tenant(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    token = tenant.context_token(qsh=query_string_hash("POST", "/lifecycle/installed"))
    body = install_body(
        tenant.client_key, "attacker-secret-" + "y" * 30, "https://evil.atlassian.net"
    )
    response = await client.post(
        "/lifecycle/installed", json=body, headers={"Authorization": f"JWT {token}"}
    )
    assert response.status_code == 401
    assert (await _tenant(session, tenant.client_key)).base_url == JIRA_BASE_URL


async def test_unknown_kid_is_refused(
    client: httpx.AsyncClient, signer: InstallSigner, network: respx.MockRouter
) -> None:
    network.get(f"{KEYS_URL}/unknown-kid").respond(404)
    token = signer.token(
        client_key="jira:x", aud=APP_BASE_URL, path="/lifecycle/installed", kid="unknown-kid"
    )
    response = await client.post(
        "/lifecycle/installed",
        json=install_body("jira:x", "z" * 40),
        headers={"Authorization": f"JWT {token}"},
    )
    assert response.status_code == 401
    assert response.json()["message"] == "install token key is unknown"


async def test_key_fetch_failure_is_refused_without_detail(
    client: httpx.AsyncClient, signer: InstallSigner, network: respx.MockRouter
) -> None:
    network.get(f"{KEYS_URL}/{signer.kid}").mock(side_effect=httpx.ConnectError("boom"))
    response = await install_tenant(client, signer)
    assert response.status_code == 401
    assert response.json()["message"] == "install token key could not be fetched"
    assert "boom" not in response.text


async def test_malformed_kid_never_reaches_the_key_service(
    client: httpx.AsyncClient, signer: InstallSigner, network: respx.MockRouter
) -> None:
    token = signer.token(
        client_key="jira:x", aud=APP_BASE_URL, path="/lifecycle/installed", kid="../admin"
    )
    response = await client.post(
        "/lifecycle/installed",
        json=install_body("jira:x", "z" * 40),
        headers={"Authorization": f"JWT {token}"},
    )
    assert response.status_code == 401
    assert not network.calls


async def test_install_with_wrong_audience_is_refused(
    client: httpx.AsyncClient, signer: InstallSigner, key_cdn: respx.Route
) -> None:
    token = signer.token(
        client_key="jira:x", aud="https://other-app.example", path="/lifecycle/installed"
    )
    response = await client.post(
        "/lifecycle/installed",
        json=install_body("jira:x", "z" * 40),
        headers={"Authorization": f"JWT {token}"},
    )
    assert response.status_code == 401


async def test_install_with_issuer_not_the_body_client_key_is_refused(
    client: httpx.AsyncClient, signer: InstallSigner, key_cdn: respx.Route
) -> None:
    token = signer.token(client_key="jira:real", aud=APP_BASE_URL, path="/lifecycle/installed")
    response = await client.post(
        "/lifecycle/installed",
        json=install_body("jira:forged", "z" * 40),
        headers={"Authorization": f"JWT {token}"},
    )
    assert response.status_code == 401
    assert "clientKey" in response.json()["message"]


async def test_install_from_a_host_not_allowed_is_refused(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    key_cdn: respx.Route,
    session: async_sessionmaker[AsyncSession],
) -> None:
    for base_url in (
        "https://evil.example.com",
        "https://acme.atlassian.net.evil.com",
        "http://acme.atlassian.net",
        "https://user:pw@acme.atlassian.net",
    ):
        response = await install_tenant(client, signer, client_key="jira:h", base_url=base_url)
        assert response.status_code == 403, base_url
        assert response.json()["error"] == "host_not_allowed"
    async with session() as s:
        assert await tenants.get_by_client_key(s, "jira:h") is None


async def test_invalid_install_body_is_a_clear_error(
    client: httpx.AsyncClient, signer: InstallSigner, key_cdn: respx.Route
) -> None:
    token = signer.token(client_key="jira:x", aud=APP_BASE_URL, path="/lifecycle/installed")
    response = await client.post(
        "/lifecycle/installed", content=b"{not json", headers={"Authorization": f"JWT {token}"}
    )
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_input"


async def test_reinstall_rotates_secret_and_keeps_tenant_id(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    new_secret = secrets.token_urlsafe(32)
    response = await install_tenant(
        client,
        signer,
        client_key=tenant.client_key,
        shared_secret=new_secret,
        base_url="https://acme-renamed.atlassian.net",
    )
    assert response.status_code == 204
    row = await _tenant(session, tenant.client_key)
    assert row.id == tenant.tenant_id
    assert row.base_url == "https://acme-renamed.atlassian.net"

    old = tenant.context_token(qsh=query_string_hash("GET", "/admin"))
    assert (await client.get("/admin", params={"jwt": old})).status_code == 401
    new = tenant_token(
        client_key=tenant.client_key, secret=new_secret, qsh=query_string_hash("GET", "/admin")
    )
    assert (await client.get("/admin", params={"jwt": new})).status_code == 200


async def test_new_client_key_on_same_base_url_is_a_new_tenant(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    response = await install_tenant(client, signer, client_key="jira:second")
    assert response.status_code == 204
    assert (await _tenant(session, "jira:second")).id != tenant.tenant_id


async def test_uninstall_stops_tokens_and_reinstall_restores_the_same_tenant(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    token = signer.token(
        client_key=tenant.client_key, aud=APP_BASE_URL, path="/lifecycle/uninstalled"
    )
    body = install_body(tenant.client_key, tenant.shared_secret) | {"eventType": "uninstalled"}
    for _ in range(2):  # idempotent
        response = await client.post(
            "/lifecycle/uninstalled", json=body, headers={"Authorization": f"JWT {token}"}
        )
        assert response.status_code == 204
    row = await _tenant(session, tenant.client_key)
    assert not row.installed
    assert row.uninstalled_at is not None

    page = page_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, method="GET", path="/admin"
    )
    assert (await client.get("/admin", params={"jwt": page})).status_code == 401

    again = await install_tenant(
        client, signer, client_key=tenant.client_key, shared_secret=tenant.shared_secret
    )
    assert again.status_code == 204
    row = await _tenant(session, tenant.client_key)
    assert row.installed
    assert row.id == tenant.tenant_id


async def test_uninstall_needs_the_rs256_token(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    token = tenant.context_token(qsh=query_string_hash("POST", "/lifecycle/uninstalled"))
    response = await client.post(
        "/lifecycle/uninstalled",
        json=install_body(tenant.client_key, tenant.shared_secret),
        headers={"Authorization": f"JWT {token}"},
    )
    assert response.status_code == 401
    assert (await _tenant(session, tenant.client_key)).installed


async def _toggle(client: httpx.AsyncClient, tenant: InstalledTenant, event: str) -> httpx.Response:
    path = f"/lifecycle/{event}"
    token = tenant.context_token(qsh=query_string_hash("POST", path))
    return await client.post(
        path,
        json=install_body(tenant.client_key, tenant.shared_secret) | {"eventType": event},
        headers={"Authorization": f"JWT {token}"},
    )


async def test_disable_and_enable_toggle_the_tenant(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    assert (await _toggle(client, tenant, "disabled")).status_code == 204
    assert not (await _tenant(session, tenant.client_key)).enabled
    page = page_token(
        client_key=tenant.client_key, secret=tenant.shared_secret, method="GET", path="/admin"
    )
    assert (await client.get("/admin", params={"jwt": page})).status_code == 401
    assert (await _toggle(client, tenant, "enabled")).status_code == 204
    assert (await _tenant(session, tenant.client_key)).enabled
    assert (await client.get("/admin", params={"jwt": page})).status_code == 200


async def test_enable_with_a_wrong_secret_is_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    await _toggle(client, tenant, "disabled")
    forged = jwt.encode(
        {
            "iss": tenant.client_key,
            "exp": 9999999999,
            "qsh": query_string_hash("POST", "/lifecycle/enabled"),
        },
        "not-the-tenant-secret-but-long-enough-to-sign",
        algorithm="HS256",
    )
    response = await client.post(
        "/lifecycle/enabled",
        json=install_body(tenant.client_key, tenant.shared_secret),
        headers={"Authorization": f"JWT {forged}"},
    )
    assert response.status_code == 401
    assert not (await _tenant(session, tenant.client_key)).enabled


async def test_disabled_and_uninstalled_arriving_together(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    token = signer.token(
        client_key=tenant.client_key, aud=APP_BASE_URL, path="/lifecycle/uninstalled"
    )
    uninstall = client.post(
        "/lifecycle/uninstalled",
        json=install_body(tenant.client_key, tenant.shared_secret),
        headers={"Authorization": f"JWT {token}"},
    )
    results = await asyncio.gather(uninstall, _toggle(client, tenant, "disabled"))
    assert [r.status_code for r in results] == [204, 204]
    row = await _tenant(session, tenant.client_key)
    assert not row.installed
    assert not row.enabled


async def test_a_tenant_cannot_disable_or_enable_another_tenant(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    key_cdn: respx.Route,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
) -> None:
    assert (await install_tenant(client, signer, client_key="jira:victim")).status_code == 204
    for event in ("disabled", "enabled"):
        path = f"/lifecycle/{event}"
        token = tenant.context_token(qsh=query_string_hash("POST", path))  # valid, but A's
        response = await client.post(
            path,
            json=install_body("jira:victim", "x" * 40) | {"eventType": event},
            headers={"Authorization": f"JWT {token}"},
        )
        assert response.status_code == 401
        assert response.json()["message"] == "token issuer does not match the clientKey"
    assert (await _tenant(session, "jira:victim")).enabled
    assert (await _tenant(session, tenant.client_key)).enabled


async def test_enable_without_a_token_or_from_an_unknown_site_is_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    await _toggle(client, tenant, "disabled")
    body = install_body(tenant.client_key, tenant.shared_secret) | {"eventType": "enabled"}
    missing = await client.post("/lifecycle/enabled", json=body)
    assert missing.status_code == 401
    assert missing.json()["message"] == "missing token"
    stranger = tenant_token(
        client_key="jira:stranger",
        secret="s" * 40,
        qsh=query_string_hash("POST", "/lifecycle/enabled"),
    )
    unknown = await client.post(
        "/lifecycle/enabled", json=body, headers={"Authorization": f"JWT {stranger}"}
    )
    assert unknown.status_code == 401
    assert unknown.json()["message"] == "unknown tenant"
    assert not (await _tenant(session, tenant.client_key)).enabled


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        ({"displayUrl": "http://acme.example.com"}, 403, "displayUrl"),
        ({"sharedSecret": ""}, 422, "sharedSecret"),
    ],
    ids=["unsafe-display-url", "no-shared-secret"],
)
async def test_a_signed_install_with_an_unusable_payload_is_refused(
    client: httpx.AsyncClient,
    signer: InstallSigner,
    key_cdn: respx.Route,
    session: async_sessionmaker[AsyncSession],
    body: dict[str, str],
    status: int,
    named: str,
) -> None:
    response = await install_tenant(client, signer, client_key="jira:bad", body=body)
    assert response.status_code == status
    assert named in response.json()["message"]
    async with session() as s:
        assert await tenants.get_by_client_key(s, "jira:bad") is None
