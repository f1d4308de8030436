"""The plain OAuth 2.0 preset (identity from userinfo over TLS) and client_secret_post."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import RecordingProvisioner, login, oauth2_idp


async def test_oauth2_identity_comes_from_userinfo(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    provisioner: RecordingProvisioner,
) -> None:
    op.issue_id_token = False
    op.userinfo_claims = {
        "id": 4242,
        "email": "octo@example.com",
        "email_verified": True,
        "name": "Octo Cat",
    }
    await oauth2_idp(
        client, tenant, op, scopes="read:user user:email", attribute_mapping={"subject": "id"}
    )
    response = await login(client, tenant, op)
    assert response.status_code == 303, response.text
    identity = provisioner.calls[0]
    assert (identity.issuer, identity.subject, identity.email) == (
        "https://op.example.test",
        "4242",
        "octo@example.com",
    )
    assert op.userinfo_calls == 1
    assert op.discovery_calls == 0


async def test_oauth2_authorize_request_has_no_openid_scope(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> None:
    await oauth2_idp(client, tenant, op, scopes="read:user")
    location = (await client.get(f"/portal/{tenant.tenant_id}/7")).headers["location"]
    assert parse_qs(location.split("?", 1)[1])["scope"] == ["read:user"]


@pytest.mark.usefixtures("provisioner")
async def test_client_secret_post_when_configured(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"token_auth_method": "client_secret_post"},
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    assert (await login(client, tenant, op)).status_code == 303
    request = op.token_requests[0]
    assert "authorization" not in request.headers
    form = parse_qs(request.content.decode())
    assert form["client_secret"] == [op.client_secret]
