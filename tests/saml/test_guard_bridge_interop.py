"""The Guard bridge against a stand-in for Atlassian's SP, built on pysaml2 (an independent
SAML implementation; it verifies through xmlsec1), with the real OpenID Provider (npm
oidc-provider on loopback) as the customer's own provider:

    pysaml2 SP's AuthnRequest -> our SSO URL -> the customer's OIDC login at the OP ->
    our signed Response -> pysaml2 accepts it and reads the email.

What it cannot show: that Atlassian's own SP behaves as pysaml2 does. The README says so."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import respx

from app.config import Settings
from tests.conftest import InstalledTenant
from tests.support.guard_bridge import ACS_URL, SP_ENTITY_ID, posted_form, register_bridge
from tests.support.openid_provider import OpenIDProvider, sign_in_at_op

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("xmlsec1") is None,
        reason="pysaml2 needs xmlsec1 (scripts/install-system-deps)",
    ),
]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The real OP listens on plain http on loopback.
    return settings.model_copy(update={"app_env": "development", "dev_allow_http_loopback": True})


@pytest.fixture
def loopback(network: respx.MockRouter) -> None:
    network.route(host="127.0.0.1").pass_through()


class StandInAtlassianSp:
    """pysaml2 as the SP Atlassian Guard would be: our IdP metadata imported, its own entity
    id and ACS, signed Responses and Assertions wanted, no unsolicited Responses."""

    def __init__(self, folder: Path, idp_metadata: bytes) -> None:
        from saml2 import BINDING_HTTP_POST
        from saml2.client import Saml2Client
        from saml2.config import SPConfig
        from saml2.saml import NAMEID_FORMAT_EMAILADDRESS

        (folder / "idp.xml").write_bytes(idp_metadata)
        config = SPConfig()
        config.load(
            {
                "entityid": SP_ENTITY_ID,
                "service": {
                    "sp": {
                        "endpoints": {"assertion_consumer_service": [(ACS_URL, BINDING_HTTP_POST)]},
                        "want_response_signed": True,
                        "want_assertions_signed": True,
                        "authn_requests_signed": False,
                        "allow_unsolicited": False,
                        "name_id_format": NAMEID_FORMAT_EMAILADDRESS,
                    }
                },
                "metadata": {"local": [str(folder / "idp.xml")]},
                "xmlsec_binary": shutil.which("xmlsec1"),
                "allow_unknown_attributes": True,
            }
        )
        self.client = Saml2Client(config)

    def authn_request(self, idp_entity_id: str, relay_state: str) -> tuple[str, str]:
        """(the request ID, the URL the browser is sent to: our SSO URL, HTTP-Redirect)."""
        from saml2 import BINDING_HTTP_REDIRECT

        request_id, info = self.client.prepare_for_authenticate(
            entityid=idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT
        )
        return str(request_id), dict(info["headers"])["Location"]

    def accept(self, saml_response: str, request_id: str) -> Any:
        from saml2 import BINDING_HTTP_POST

        return self.client.parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: "/"}
        )


async def configure_oidc(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: OpenIDProvider
) -> None:
    created = await client.post(
        "/api/admin/idps",
        json={
            "name": "Company SSO",
            "preset": "oidc",
            "issuer": op.issuer,
            "client_id": "pending",
            "client_secret": "pending",
        },
        headers=tenant.admin_headers(),
    )
    assert created.status_code == 201, created.text
    idp = created.json()
    registered = op.register_client(idp["callback_url"])
    updated = await client.put(
        f"/api/admin/idps/{idp['id']}",
        json={"client_id": registered["client_id"], "client_secret": registered["client_secret"]},
        headers=tenant.admin_headers(),
    )
    assert updated.status_code == 200, updated.text


async def journey_to_the_op(
    client: httpx.AsyncClient, tenant: InstalledTenant, sp: StandInAtlassianSp
) -> tuple[str, str, str]:
    """(the SP's request ID, the journey page, the OP's login URL)."""
    idp_entity_id = f"https://sso.example.test/saml-idp/{tenant.tenant_id}/metadata"
    request_id, location = sp.authn_request(idp_entity_id, relay_state="guard-relay")
    parts = urlsplit(location)
    assert parts.path == f"/saml-idp/{tenant.tenant_id}/sso"
    received = await client.get(f"{parts.path}?{parts.query}")
    assert received.status_code == 303, received.text
    journey = received.headers["location"]
    to_op = await client.get(journey)
    assert to_op.status_code == 303, to_op.text
    return request_id, journey, to_op.headers["location"]


@pytest.mark.usefixtures("loopback")
async def test_the_stand_in_atlassian_sp_accepts_the_bridges_assertion(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    tmp_path: Path,
) -> None:
    await configure_oidc(client, tenant, openid_provider)
    assert (await register_bridge(client, tenant)).status_code == 200
    metadata = await client.get(f"/saml-idp/{tenant.tenant_id}/metadata")
    sp = StandInAtlassianSp(tmp_path, metadata.content)

    request_id, journey, op_login = await journey_to_the_op(client, tenant, sp)
    assert op_login.startswith(f"{openid_provider.issuer}/auth?")
    callback = urlsplit(
        await sign_in_at_op(op_login, "ada", app_prefix="https://sso.example.test/")
    )
    back = await client.get(f"{callback.path}?{callback.query}")
    assert back.status_code == 303, back.text
    assert back.headers["location"] == journey
    form = posted_form(await client.get(journey))
    assert form.action == ACS_URL
    assert form.fields["RelayState"] == "guard-relay"

    accepted = sp.accept(form.fields["SAMLResponse"], request_id)
    assert accepted is not None
    assert accepted.name_id.text == "ada@example.com"
    assert accepted.name_id.format == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    attributes = accepted.get_identity()
    assert attributes["email"] == ["ada@example.com"]
    assert attributes["name"] == ["Ada Lovelace"]
    assert attributes["givenname"] == ["Ada"]
    assert attributes["surname"] == ["Lovelace"]
    [statement] = accepted.assertion.authn_statement
    assert statement.session_index  # what an SP's single logout would name

    # The Response answers this request only: to an SP waiting for another, it is unsolicited.
    from saml2.response import UnsolicitedResponse

    with pytest.raises(UnsolicitedResponse):
        sp.accept(form.fields["SAMLResponse"], "another-request")


@pytest.mark.usefixtures("loopback")
async def test_an_upstream_login_failure_reaches_the_customer_and_not_atlassian(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    openid_provider: OpenIDProvider,
    tmp_path: Path,
) -> None:
    await configure_oidc(client, tenant, openid_provider)
    assert (await register_bridge(client, tenant)).status_code == 200
    metadata = await client.get(f"/saml-idp/{tenant.tenant_id}/metadata")
    sp = StandInAtlassianSp(tmp_path, metadata.content)
    _, journey, op_login = await journey_to_the_op(client, tenant, sp)
    # eve's address is not verified at the OP.
    callback = urlsplit(
        await sign_in_at_op(op_login, "eve", app_prefix="https://sso.example.test/")
    )
    refused = await client.get(f"{callback.path}?{callback.query}")
    assert refused.status_code == 400
    page = html.unescape(refused.text)
    assert "not verified" in page
    assert "saml-post" not in page
    # Back at the journey: still not signed in, so a sign-in again, never an answer.
    again = await client.get(journey)
    assert again.status_code == 303
    assert again.headers["location"].startswith(f"{openid_provider.issuer}/auth?")
