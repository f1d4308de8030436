"""Straight to an upstream provider: each vendor's own authorize parameter, from one admin field
(``identity_provider``), and only for the vendors that have one."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx

from tests.conftest import InstalledTenant
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import RecordingProvisioner, callback, create_idp, start

GUID = "72f988bf-86f1-41af-91ab-2d7cd011db47"

VENDORS = [
    # preset, its fields, the issuer they give, an upstream value, the vendor's parameter
    (
        "keycloak",
        {"base_url": "https://sso.acme.test", "realm": "customers"},
        "https://sso.acme.test/realms/customers",
        "corp-saml",
        "kc_idp_hint",
    ),
    ("okta", {"domain": "acme.okta.test"}, "https://acme.okta.test", "0oa1b2c3d4e5f6g7h8i9", "idp"),
    (
        "auth0",
        {"domain": "acme.eu.auth0.test"},
        "https://acme.eu.auth0.test/",
        "google-oauth2",
        "connection",
    ),
    (
        "entra_id",
        {"tenant": GUID},
        f"https://login.microsoftonline.com/{GUID}/v2.0",
        "contoso.com",
        "domain_hint",
    ),
]


def vendor_op(network: respx.MockRouter, issuer: str) -> HostileOP:
    # Endpoints under the issuer's origin, as these vendors publish them.
    op = HostileOP(issuer=issuer.rstrip("/"), endpoint_base=issuer.rstrip("/"))
    # Auth0's issuer ends with a slash: the discovery document and the ID token say so.
    op.discovery_issuer = issuer
    op.claim_overrides["iss"] = issuer
    op.mount(network)
    return op


@pytest.mark.parametrize(("preset", "fields", "issuer", "upstream", "parameter"), VENDORS)
async def test_each_vendor_is_sent_its_own_routing_parameter(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    network: respx.MockRouter,
    provisioner: RecordingProvisioner,
    preset: str,
    fields: dict[str, str],
    issuer: str,
    upstream: str,
    parameter: str,
) -> None:
    op = vendor_op(network, issuer)
    body = {
        "name": "Vendor",
        "preset": preset,
        "client_id": op.client_id,
        "client_secret": op.client_secret,
        "identity_provider": upstream,
    }
    idp = await create_idp(client, tenant, **body, **fields)
    assert idp["identity_provider"] == upstream
    location = await start(client, tenant)
    query = parse_qs(urlsplit(location).query)
    assert query[parameter] == [upstream]
    assert "identity_provider" not in query
    # The sign-in then completes as any other.
    assert (await callback(client, op.authorize(location))).status_code == 303
    assert len(provisioner.calls) == 1


@pytest.mark.parametrize(("preset", "fields", "issuer", "upstream", "parameter"), VENDORS)
async def test_without_an_upstream_the_vendor_page_shows(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    network: respx.MockRouter,
    preset: str,
    fields: dict[str, str],
    issuer: str,
    upstream: str,
    parameter: str,
) -> None:
    del upstream
    vendor_op(network, issuer)
    body = {"name": "Vendor", "preset": preset, "client_id": "c", "client_secret": "s"}
    await create_idp(client, tenant, **body, **fields)
    assert parameter not in parse_qs(urlsplit(await start(client, tenant)).query)


async def test_a_vendor_without_a_routing_parameter_sends_none(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP
) -> None:
    """The generic OIDC preset has no such field: a value given anyway is neither kept nor
    sent."""
    created = await create_idp(
        client,
        tenant,
        name="Generic",
        preset="oidc",
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
        identity_provider="corp-saml",
    )
    assert "identity_provider" not in created
    query = parse_qs(urlsplit(await start(client, tenant)).query)
    assert not {"identity_provider", "kc_idp_hint", "idp", "connection", "domain_hint"} & set(query)


@pytest.mark.parametrize(
    ("preset", "fields", "value"),
    [
        ("keycloak", {"base_url": "https://sso.acme.test", "realm": "r"}, "corp saml"),
        ("okta", {"domain": "acme.okta.test"}, "0oa\u0000x"),
        ("auth0", {"domain": "acme.eu.auth0.test"}, "x" * 101),
        ("entra_id", {"tenant": GUID}, "https://contoso.com"),
    ],
)
async def test_an_upstream_value_the_vendor_cannot_have_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    preset: str,
    fields: dict[str, Any],
    value: str,
) -> None:
    response = await client.post(
        "/api/admin/idps",
        json={
            "name": "Vendor",
            "preset": preset,
            "client_id": "c",
            "client_secret": "s",
            "identity_provider": value,
            **fields,
        },
        headers={"Authorization": f"JWT {tenant.context_token()}"},
    )
    assert response.status_code == 422, response.text
    assert "identity_provider" in response.json()["fields"]
