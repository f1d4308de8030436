"""The identity-provider part of the admin API: validation per field, secrets write-only,
tenants isolated."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.admin.providers import MAX_IDPS_PER_TENANT
from app.models import IdentityProvider
from tests.conftest import InstalledTenant

COGNITO = {
    "name": "Acme customers",
    "preset": "cognito",
    "domain": "acme.auth.eu-west-1.amazoncognito.com",
    "client_id": "3n4b5urk1ft4fl3mg5e62d9ado",
    "client_secret": "super-secret-client-secret",
}


async def test_create_returns_callback_url_and_never_the_secret(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    response = await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    assert response.status_code == 201
    body = response.json()
    assert body["callback_url"] == f"https://sso.example.test/oidc/{body['id']}/callback"
    assert body["scopes"] == "openid profile email"
    assert body["has_client_secret"] is True
    assert "super-secret" not in response.text
    assert body["attribute_mapping"]["groups"] == "cognito:groups"
    listed = await client.get("/api/admin/idps", headers=tenant.admin_headers())
    assert "super-secret" not in listed.text
    async with session() as s:
        row = await s.get(IdentityProvider, body["id"])
        assert row is not None
        assert "super-secret" not in (row.client_secret_encrypted or "")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"domain": "https://acme.auth.eu-west-1.amazoncognito.com/path"}, "domain"),
        ({"domain": ""}, "domain"),
        ({"client_id": ""}, "client_id"),
        ({"client_secret": ""}, "client_secret"),
        ({"name": ""}, "name"),
        ({"preset": "ldap"}, "preset"),
        ({"user_pool_id": "not a pool"}, "user_pool_id"),
        ({"issuer": "http://cognito-idp.example.com/x"}, "issuer"),
        ({"logout_url": "javascript:alert(1)"}, "logout_url"),
        ({"scopes": 'openid "email"'}, "scopes"),
        ({"email_domains": ["not a domain"]}, "email_domains"),
        ({"attribute_mapping": {"password": "pwd"}}, "attribute_mapping"),
        ({"enabled": None}, "enabled"),
        ({"trust_email": None}, "trust_email"),
        ({"token_auth_method": None}, "token_auth_method"),
        # Sizes: what one site stores is cached in every process beside every other site's.
        ({"client_secret": "s" * 2001}, "client_secret"),
        ({"attribute_mapping": {"email": "c" * 201}}, "attribute_mapping.email"),
        ({"email_domains": [f"d{n}.example.com" for n in range(201)]}, "email_domains"),
        ({"email_domains": ["a" * 250 + ".com"]}, "email_domains.0"),
    ],
)
async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, tenant: InstalledTenant, changes: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/api/admin/idps", json=COGNITO | changes, headers=tenant.admin_headers()
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_input"
    assert field in body["fields"], body


async def test_entra_needs_a_tenant_guid(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    body = {
        "name": "Entra",
        "preset": "entra_id",
        "client_id": "x",
        "client_secret": "y",
        "tenant": "contoso.com",
    }
    response = await client.post("/api/admin/idps", json=body, headers=tenant.admin_headers())
    assert response.status_code == 422
    assert "GUID" in response.json()["fields"]["tenant"]


async def test_pasted_discovery_url_is_normalised(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    body = {
        "name": "Keycloak-ish",
        "preset": "oidc",
        "issuer": "https://sso.example.com/realms/acme/.well-known/openid-configuration",
        "client_id": "x",
        "client_secret": "y",
    }
    response = await client.post("/api/admin/idps", json=body, headers=tenant.admin_headers())
    assert response.status_code == 201
    assert response.json()["issuer"] == "https://sso.example.com/realms/acme"


async def test_update_keeps_the_stored_secret_unless_a_new_one_is_given(
    client: httpx.AsyncClient, tenant: InstalledTenant, session: async_sessionmaker[AsyncSession]
) -> None:
    created = (
        await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    ).json()
    async with session() as s:
        before = (await s.get(IdentityProvider, created["id"])).client_secret_encrypted  # type: ignore[union-attr]
    response = await client.put(
        f"/api/admin/idps/{created['id']}",
        json={"name": "Renamed", "client_secret": ""},
        headers=tenant.admin_headers(),
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    async with session() as s:
        after = await s.get(IdentityProvider, created["id"])
        assert after is not None
        assert after.client_secret_encrypted == before
    await client.put(
        f"/api/admin/idps/{created['id']}",
        json={"client_secret": "rotated"},
        headers=tenant.admin_headers(),
    )
    async with session() as s:
        rotated = await s.get(IdentityProvider, created["id"])
        assert rotated is not None
        assert rotated.client_secret_encrypted != before


async def test_null_mapping_and_domains_mean_none_and_the_idp_stays_editable(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    created = (
        await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    ).json()
    path = f"/api/admin/idps/{created['id']}"
    cleared = await client.put(
        path,
        json={"attribute_mapping": None, "email_domains": None},
        headers=tenant.admin_headers(),
    )
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["attribute_mapping"]["groups"] == "cognito:groups"  # the defaults
    assert cleared.json()["email_domains"] == []
    renamed = await client.put(path, json={"name": "Renamed"}, headers=tenant.admin_headers())
    assert renamed.status_code == 200, renamed.text
    assert (await client.get(path, headers=tenant.admin_headers())).json()["name"] == "Renamed"


async def test_unknown_body_fields_are_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.post(
        "/api/admin/idps",
        json=COGNITO | {"pinned_issuer": "https://evil"},
        headers=tenant.admin_headers(),
    )
    assert response.status_code == 422
    assert "pinned_issuer" in response.json()["fields"]


async def test_delete_then_404(client: httpx.AsyncClient, tenant: InstalledTenant) -> None:
    created = (
        await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    ).json()
    assert (
        await client.delete(f"/api/admin/idps/{created['id']}", headers=tenant.admin_headers())
    ).status_code == 204
    assert (
        await client.get(f"/api/admin/idps/{created['id']}", headers=tenant.admin_headers())
    ).status_code == 404
    assert (
        await client.delete(f"/api/admin/idps/{created['id']}", headers=tenant.admin_headers())
    ).status_code == 404


async def test_another_tenants_idp_is_404_for_every_verb(
    client: httpx.AsyncClient, tenant: InstalledTenant, other_tenant: InstalledTenant
) -> None:
    created = (
        await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    ).json()
    other = other_tenant.admin_headers()
    path = f"/api/admin/idps/{created['id']}"
    assert (await client.get(path, headers=other)).status_code == 404
    assert (await client.put(path, json={"name": "mine"}, headers=other)).status_code == 404
    assert (await client.delete(path, headers=other)).status_code == 404
    assert (await client.post(f"{path}/test", headers=other)).status_code == 404
    assert (await client.get("/api/admin/idps", headers=other)).json() == []
    assert (await client.get(path, headers=tenant.admin_headers())).json()["name"] == COGNITO[
        "name"
    ]


async def test_page_token_is_refused_on_the_api(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    from app.connect.jwt import query_string_hash

    token = tenant.context_token(qsh=query_string_hash("GET", "/api/admin/idps"))
    response = await client.get("/api/admin/idps", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 401


async def test_presets_list_cognito_first_with_field_help(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    presets = (await client.get("/api/admin/presets", headers=tenant.admin_headers())).json()
    assert presets[0]["key"] == "cognito"
    assert {p["key"] for p in presets} == {
        "cognito",
        "entra_id",
        "adfs",
        "okta",
        "keycloak",
        "google",
        "auth0",
        "salesforce",
        "oidc",
        "oauth2",
        "saml",
    }
    domain = next(f for f in presets[0]["fields"] if f["name"] == "domain")
    assert "amazoncognito.com" in domain["help"]
    saml = next(p for p in presets if p["key"] == "saml")
    assert saml["kind"] == "saml"
    signed = next(f for f in saml["fields"] if f["name"] == "signed")
    assert signed["kind"] == "choice"
    assert signed["default"] == "either"
    assert [c["value"] for c in signed["choices"]] == ["either", "assertion", "response", "both"]


async def test_a_site_has_a_bounded_number_of_identity_providers(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    for n in range(MAX_IDPS_PER_TENANT):
        created = await client.post(
            "/api/admin/idps", json=COGNITO | {"name": f"IdP {n}"}, headers=tenant.admin_headers()
        )
        assert created.status_code == 201
    refused = await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    assert refused.status_code == 422
    assert f"at most {MAX_IDPS_PER_TENANT} identity providers" in refused.json()["message"]
    # Editing the ones there are still works, and so does adding after a delete.
    first = created.json()["id"]
    edited = await client.put(
        f"/api/admin/idps/{first}", json={"name": "Renamed"}, headers=tenant.admin_headers()
    )
    assert edited.status_code == 200
    await client.delete(f"/api/admin/idps/{first}", headers=tenant.admin_headers())
    again = await client.post("/api/admin/idps", json=COGNITO, headers=tenant.admin_headers())
    assert again.status_code == 201


async def test_a_field_the_response_model_does_not_declare_never_reaches_the_page(
    client: httpx.AsyncClient, tenant: InstalledTenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's answers go through response models: a field added to the description by
    mistake (a secret's ciphertext, say) is dropped, not sent."""
    from app.admin import providers

    real = providers.describe_idp

    def leaky(idp: Any, *, app_base_url: str) -> dict[str, Any]:
        return real(idp, app_base_url=app_base_url) | {
            "client_secret_encrypted": idp.client_secret_encrypted
        }

    monkeypatch.setattr("app.admin.api.describe_idp", leaky)
    created = await client.post(
        "/api/admin/idps",
        json={
            "name": "Okta",
            "preset": "okta",
            "domain": "acme.okta.com",
            "client_id": "c",
            "client_secret": "s3cret",
        },
        headers=tenant.admin_headers(),
    )
    assert created.status_code == 201, created.text
    assert "client_secret_encrypted" not in created.json()
    assert created.json()["has_client_secret"] is True
    assert "issuer" not in created.json()  # a preset field that is not set stays out


async def test_the_api_is_described_in_the_openapi_document(app: Any) -> None:
    schema = app.openapi()
    idp = schema["paths"]["/api/admin/idps/{idp_id}"]["get"]["responses"]["200"]
    assert idp["content"]["application/json"]["schema"]["$ref"].endswith("/IdpView")
    assert "SettingsView" in schema["components"]["schemas"]
