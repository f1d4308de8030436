"""SAML Single Logout over HTTP-Redirect: signing out sends our signed LogoutRequest to the
IdP; the IdP's signed LogoutRequest ends the sessions it names, and anything unsigned,
forged, misaddressed or inflated without end is refused and ends nothing."""

from __future__ import annotations

import base64
import zlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.saml.authn import RSA_SHA256, inflate
from app.saml.logout import SessionHandle, logout_request
from tests.conftest import InstalledTenant
from tests.support.login_fixtures import create_idp, sessions, start
from tests.support.saml_idp import SigningIdp
from tests.support.saml_login import answer, post_to_acs, request_of, sp_certificates

pytest_plugins = ["tests.support.login_fixtures"]

IDP_SLO = "https://idp.example.test/slo"


@pytest.fixture
async def configured(
    client: httpx.AsyncClient, tenant: InstalledTenant, saml_idp: SigningIdp
) -> dict[str, Any]:
    return await create_idp(
        client,
        tenant,
        name="Corporate SAML",
        preset="saml",
        metadata_xml=saml_idp.metadata(slo_url=IDP_SLO).decode(),
        trust_email=True,
    )


async def sign_in(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
) -> None:
    request_id, relay_state = request_of(await start(client, tenant))
    response = await post_to_acs(
        client, configured["acs_url"], answer(saml_idp, configured, request_id), relay_state
    )
    assert response.status_code == 303, response.text


def idp_logout_request(
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    *,
    name_id: str = "user-1",
    issuer: str | None = None,
    key: rsa.RSAPrivateKey | None = None,
    signed: bool = True,
    document: bytes | None = None,
) -> str:
    """The query of the IdP's LogoutRequest, signed as the Redirect binding signs."""
    document = document or logout_request(
        sp_entity_id=issuer or saml_idp.entity_id,
        destination=configured["acs_url"].replace("/acs", "/slo"),
        handle=SessionHandle(name_id, None, None),
        now=datetime.now(UTC),
    )
    compressor = zlib.compressobj(wbits=-15)
    encoded = base64.b64encode(compressor.compress(document) + compressor.flush()).decode()
    query = urlencode([("SAMLRequest", encoded), ("SigAlg", RSA_SHA256)], quote_via=quote)
    if signed:
        signature = (key or saml_idp.key).sign(query.encode(), padding.PKCS1v15(), hashes.SHA256())
        query += "&" + urlencode(
            [("Signature", base64.b64encode(signature).decode())], quote_via=quote
        )
    return query


async def test_signing_out_sends_our_signed_logout_request_to_the_idp(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    await sign_in(client, tenant, saml_idp, configured)
    out = await client.get(f"/portal/{tenant.tenant_id}/logout")
    assert out.status_code == 303
    location = out.headers["location"]
    assert location.startswith(IDP_SLO + "?SAMLRequest=")
    assert await sessions(session) == 0
    query = urlsplit(location).query
    signed_part, _, _ = query.rpartition("&Signature=")
    metadata = await client.get(urlsplit(configured["sp_metadata_url"]).path)
    [certificate] = sp_certificates(metadata.content, "signing")
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(
        base64.b64decode(parse_qs(query)["Signature"][0]),
        signed_part.encode(),
        padding.PKCS1v15(),
        hashes.SHA256(),
    )
    request = etree.fromstring(inflate(base64.b64decode(parse_qs(query)["SAMLRequest"][0])))
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:assertion}NameID") == "user-1"
    assert request.findtext("{urn:oasis:names:tc:SAML:2.0:protocol}SessionIndex")
    # The IdP's answer brings the customer to our signed-out page, whatever it says.
    back = await client.get(
        urlsplit(configured["acs_url"]).path.replace("/acs", "/slo"),
        params={"SAMLResponse": "anything", "RelayState": "https://evil.example"},
    )
    assert back.status_code == 303
    assert back.headers["location"].endswith(f"/portal/{tenant.tenant_id}/signed-out")


async def test_the_idps_logout_request_ends_the_session_it_names(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    await sign_in(client, tenant, saml_idp, configured)
    slo_path = urlsplit(configured["acs_url"]).path.replace("/acs", "/slo")
    response = await client.get(f"{slo_path}?{idp_logout_request(saml_idp, configured)}")
    assert response.status_code == 303, response.text
    assert response.headers["location"].startswith(IDP_SLO + "?SAMLResponse=")
    assert await sessions(session) == 0
    answer_xml = etree.fromstring(
        inflate(
            base64.b64decode(
                parse_qs(urlsplit(response.headers["location"]).query)["SAMLResponse"][0]
            )
        )
    )
    assert answer_xml.get("InResponseTo")
    assert answer_xml.get("Destination") == IDP_SLO


@pytest.mark.parametrize("attack", ["unsigned", "attacker_key", "wrong_issuer", "deflate_bomb"])
async def test_a_logout_request_we_cannot_trust_ends_nothing(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
    attack: str,
) -> None:
    await sign_in(client, tenant, saml_idp, configured)
    options: dict[str, Any] = {
        "unsigned": {"signed": False},
        "attacker_key": {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)},
        "wrong_issuer": {"issuer": "https://other-idp.example.test"},
        "deflate_bomb": {"document": b"<a>" + b" " * 10_000_000 + b"</a>"},
    }[attack]
    slo_path = urlsplit(configured["acs_url"]).path.replace("/acs", "/slo")
    response = await client.get(f"{slo_path}?{idp_logout_request(saml_idp, configured, **options)}")
    assert response.status_code == 400
    assert "could not be verified" in response.text
    assert await sessions(session) == 1
