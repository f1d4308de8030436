"""A customer signs in through a SAML IdP configured from the admin API: the substitute link
sends an AuthnRequest, the IdP's Response posted to our ACS opens a portal session and
provisions the customer; every refusal is a readable page, a failure in the login activity,
no session and nobody provisioned."""

from __future__ import annotations

import base64
import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import respx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from fastapi import FastAPI
from lxml import etree
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.cookies import flow_cookie_name
from app.idps import repository
from app.saml.login import refresh_metadata
from tests.conftest import InstalledTenant
from tests.support.login_fixtures import (
    RecordingProvisioner,
    assert_refused,
    create_idp,
    failures,
    sessions,
    start,
)
from tests.support.saml_idp import EMAIL_FORMAT, SigningIdp
from tests.support.saml_login import answer, post_to_acs, request_of, sp_certificates

pytest_plugins = ["tests.support.login_fixtures"]


@pytest.fixture
async def configured(
    client: httpx.AsyncClient, tenant: InstalledTenant, saml_idp: SigningIdp
) -> dict[str, Any]:
    return await create_idp(
        client,
        tenant,
        name="Corporate SAML",
        preset="saml",
        metadata_xml=saml_idp.metadata().decode(),
        trust_email=True,  # SAML has no email_verified: the admin vouches for the IdP
    )


async def test_the_admin_api_shows_what_the_metadata_said_and_what_to_import(
    configured: dict[str, Any], saml_idp: SigningIdp, client: httpx.AsyncClient
) -> None:
    assert configured["idp_entity_id"] == saml_idp.entity_id
    assert configured["idp_sso_url"] == saml_idp.sso_url
    [certificate] = configured["idp_certificates"]
    assert certificate["expires_soon"] is False
    assert configured["acs_url"].endswith(f"/saml/{configured['id']}/acs")
    assert configured["callback_url"] == configured["acs_url"]  # the contract's name for it
    assert "client_secret" not in configured
    metadata = await client.get(urlsplit(configured["sp_metadata_url"]).path)
    assert metadata.status_code == 200
    assert metadata.headers["content-type"] == "application/samlmetadata+xml"
    root = etree.fromstring(metadata.content)
    assert root.get("entityID") == configured["sp_entity_id"]


async def test_metadata_that_is_not_metadata_is_refused_on_the_form(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.post(
        "/api/admin/idps",
        json={"name": "Broken", "preset": "saml", "metadata_xml": "<html/>"},
        headers=tenant.admin_headers(),
    )
    assert response.status_code == 422
    assert "not SAML metadata" in response.json()["fields"]["metadata_xml"]


async def test_a_metadata_url_is_read_when_saved(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    network: respx.MockRouter,
) -> None:
    url = "https://idp.example.test/metadata.xml"
    network.get(url).respond(200, content=saml_idp.metadata())
    created = await create_idp(client, tenant, name="By URL", preset="saml", metadata_url=url)
    assert created["idp_entity_id"] == saml_idp.entity_id
    network.get(url).respond(503)
    # Toggling it later does not fetch again (the IdP's outage does not block the admin).
    toggled = await client.put(
        f"/api/admin/idps/{created['id']}", json={"enabled": False}, headers=tenant.admin_headers()
    )
    assert toggled.status_code == 200, toggled.text
    assert toggled.json()["idp_entity_id"] == saml_idp.entity_id


async def test_a_customer_signs_in_and_is_provisioned(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    settings: Settings,
) -> None:
    location = await start(client, tenant)
    assert location.startswith(saml_idp.sso_url + "?SAMLRequest=")
    request_id, relay_state = request_of(location)
    response = await post_to_acs(
        client, configured["acs_url"], answer(saml_idp, configured, request_id), relay_state
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith(f"/portal/{tenant.tenant_id}/7")
    home = await client.get(response.headers["location"])
    assert home.status_code == 200
    [account] = [a for a in tenant.jira.accounts.values() if a.email == "ann@example.com"]
    assert account.display_name == "Ann Example"
    assert flow_cookie_name(settings)


async def test_without_the_flow_cookie_the_answer_is_posted_on_from_our_page(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    settings: Settings,
) -> None:
    """A browser sends no SameSite=Lax cookie with the IdP's cross-site POST: the ACS
    answers with a page that posts the same answer again from our site, with the cookie."""
    request_id, relay_state = request_of(await start(client, tenant))
    flow_cookie = client.cookies.get(flow_cookie_name(settings))
    assert flow_cookie
    client.cookies.delete(flow_cookie_name(settings))
    document = answer(saml_idp, configured, request_id)
    page = await post_to_acs(client, configured["acs_url"], document, relay_state)
    assert page.status_code == 200
    fields = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', page.text))
    assert fields["resent"] == "1"
    assert html.unescape(fields["RelayState"]) == relay_state
    client.cookies.set(flow_cookie_name(settings), flow_cookie)
    response = await client.post(
        urlsplit(configured["acs_url"]).path,
        data={name: html.unescape(value) for name, value in fields.items()},
    )
    assert response.status_code == 303, response.text


async def test_a_replayed_response_is_refused(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    """A Response captured on its way and posted again from another browser, with a sign-in
    of that browser's own: the Assertion answers another request, and was accepted before."""
    request_id, relay_state = request_of(await start(client, tenant))
    document = answer(saml_idp, configured, request_id)
    first = await post_to_acs(client, configured["acs_url"], document, relay_state)
    assert first.status_code == 303
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as other:
        _, other_state = request_of(await start(other, tenant))
        again = await post_to_acs(other, configured["acs_url"], document, other_state)
    assert again.status_code == 400
    assert "could not be verified" in html.unescape(again.text)
    assert any("wrong_in_response_to" in f for f in await failures(session))
    assert await sessions(session) == 1


async def test_the_same_assertion_twice_is_refused_even_for_its_own_request(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
    provisioner: RecordingProvisioner,
) -> None:
    """The Back button re-posting the IdP's form: the state is spent, so nothing is redeemed
    again, and the customer goes on where the login was going."""
    request_id, relay_state = request_of(await start(client, tenant))
    document = answer(saml_idp, configured, request_id)
    assert (
        await post_to_acs(client, configured["acs_url"], document, relay_state)
    ).status_code == 303
    again = await post_to_acs(client, configured["acs_url"], document, relay_state)
    assert again.status_code == 303  # Returning: no second session, no second provisioning
    assert len(provisioner.calls) == 1
    assert await sessions(session) == 1


async def test_an_unsolicited_response_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await start(client, tenant)  # the browser has a flow cookie, but this answers nothing
    document = answer(saml_idp, configured, None)
    response = await post_to_acs(client, configured["acs_url"], document, "7")
    await assert_refused(response, provisioner, session, "own sign-in links are not accepted")


async def test_a_forged_response_is_refused_and_audited(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    attacker = SigningIdp()  # same entity id, its own key
    request_id, relay_state = request_of(await start(client, tenant))
    document = answer(attacker, configured, request_id)
    response = await post_to_acs(client, configured["acs_url"], document, relay_state)
    await assert_refused(response, provisioner, session, "could not be verified", status=400)
    assert any("bad_signature" in f for f in await failures(session))


async def test_an_email_is_not_trusted_unless_the_admin_says_so(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """SAML carries no email_verified: with the box unticked, no address from this IdP
    identifies anyone."""
    updated = await client.put(
        f"/api/admin/idps/{configured['id']}",
        json={"trust_email": False},
        headers=tenant.admin_headers(),
    )
    assert updated.status_code == 200
    request_id, relay_state = request_of(await start(client, tenant))
    document = answer(
        saml_idp,
        configured,
        request_id,
        name_id="ann@example.com",
        name_id_format=EMAIL_FORMAT,
        attributes={},
    )
    response = await post_to_acs(client, configured["acs_url"], document, relay_state)
    await assert_refused(response, provisioner, session, "does not say whether")


async def test_with_trusted_emails_an_email_name_id_signs_in(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    request_id, relay_state = request_of(await start(client, tenant))
    document = answer(
        saml_idp,
        configured,
        request_id,
        name_id="Ann@Example.com",
        name_id_format=EMAIL_FORMAT,
        attributes={},
    )
    response = await post_to_acs(client, configured["acs_url"], document, relay_state)
    assert response.status_code == 303, response.text
    [identity] = provisioner.calls
    assert identity.issuer == saml_idp.entity_id
    assert identity.subject == "email:ann@example.com"  # not persistent: bound to the email


async def test_a_persistent_name_id_is_the_subject(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    request_id, relay_state = request_of(await start(client, tenant))
    response = await post_to_acs(
        client, configured["acs_url"], answer(saml_idp, configured, request_id), relay_state
    )
    assert response.status_code == 303, response.text
    [identity] = provisioner.calls
    assert (identity.issuer, identity.subject) == (saml_idp.entity_id, "user-1")
    assert identity.email == "ann@example.com"


async def test_the_admins_test_login_shows_the_name_id_and_every_attribute(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
) -> None:
    ticket = await client.post(
        f"/api/admin/idps/{configured['id']}/test", headers=tenant.admin_headers()
    )
    assert ticket.status_code in (200, 201), ticket.text
    test_url = urlsplit(ticket.json()["url"])
    redirect = await client.get(test_url.path)
    assert redirect.status_code == 303
    request_id, relay_state = request_of(redirect.headers["location"])
    page = await post_to_acs(
        client, configured["acs_url"], answer(saml_idp, configured, request_id), relay_state
    )
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    for shown in ("NameID", "user-1", "displayName", "Ann Example", "email"):
        assert shown in text


async def test_an_assertion_is_accepted_once_across_instances(
    session: async_sessionmaker[AsyncSession], configured: dict[str, Any]
) -> None:
    until = datetime.now(UTC) + timedelta(minutes=5)
    async with session() as s:
        first = await repository.remember_assertion(
            s, idp_id=configured["id"], assertion_id="_a1", expires_at=until
        )
        await s.commit()
    async with session() as s:  # another instance's session: the row is what they share
        again = await repository.remember_assertion(
            s, idp_id=configured["id"], assertion_id="_a1", expires_at=until
        )
        other_idp = await repository.remember_assertion(
            s, idp_id=configured["id"], assertion_id="_a2", expires_at=until
        )
    assert (first, again, other_idp) == (True, False, True)


async def test_an_overlong_relay_state_is_no_sign_in_of_ours(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    request_id, _ = request_of(await start(client, tenant))
    document = answer(saml_idp, configured, request_id)
    response = await post_to_acs(client, configured["acs_url"], document, "x" * 81)
    # Not a flow state of ours, so only an IdP-initiated sign-in, which this IdP refuses.
    await assert_refused(response, provisioner, session, "own sign-in links are not accepted")


async def test_signing_out_ends_our_session_and_says_the_idps_may_remain(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    request_id, relay_state = request_of(await start(client, tenant))
    signed_in = await post_to_acs(
        client, configured["acs_url"], answer(saml_idp, configured, request_id), relay_state
    )
    assert signed_in.status_code == 303
    out = await client.get(f"/portal/{tenant.tenant_id}/logout")
    assert out.status_code == 303
    assert out.headers["location"].endswith("/signed-out?idp_session=kept")
    assert await sessions(session) == 0
    page = await client.get(urlsplit(out.headers["location"]).path + "?idp_session=kept")
    assert "still be signed in at your organisation" in page.text


async def our_metadata(client: httpx.AsyncClient, configured: dict[str, Any]) -> bytes:
    response = await client.get(urlsplit(configured["sp_metadata_url"]).path)
    assert response.status_code == 200
    return response.content


async def test_an_assertion_encrypted_for_our_published_certificate_signs_in(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    [certificate] = sp_certificates(await our_metadata(client, configured), "encryption")
    request_id, relay_state = request_of(await start(client, tenant))
    document = saml_idp.encrypted_response(
        certificate,
        acs_url=configured["acs_url"],
        audience=configured["sp_entity_id"],
        in_response_to=request_id,
        attributes={"mail": ["ann@example.com"]},
    )
    response = await post_to_acs(client, configured["acs_url"], document, relay_state)
    assert response.status_code == 303, response.text
    assert [i.email for i in provisioner.calls] == ["ann@example.com"]


async def test_keys_rotate_with_old_and_new_published_until_the_old_is_retired(
    client: httpx.AsyncClient, tenant: InstalledTenant, configured: dict[str, Any]
) -> None:
    headers = tenant.admin_headers()
    [first] = (await client.get("/api/admin/saml/sp-keys", headers=headers)).json()
    assert first["signing"] is True
    assert "PRIVATE" not in str(first)
    rotated = await client.post("/api/admin/saml/sp-keys", headers=headers)
    assert rotated.status_code == 201
    new, old = rotated.json()
    assert (new["signing"], old["id"]) == (True, first["id"])
    assert len(sp_certificates(await our_metadata(client, configured), "signing")) == 2
    refused = await client.delete(f"/api/admin/saml/sp-keys/{new['id']}", headers=headers)
    assert refused.status_code == 422
    assert "signs now" in refused.json()["message"]
    retired = await client.delete(f"/api/admin/saml/sp-keys/{old['id']}", headers=headers)
    assert [k["id"] for k in retired.json()] == [new["id"]]
    [published] = sp_certificates(await our_metadata(client, configured), "signing")
    assert published.public_bytes(serialization.Encoding.PEM).decode() == new["certificate_pem"]


async def test_another_sites_keys_are_not_reachable(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    configured: dict[str, Any],
) -> None:
    [key] = (await client.get("/api/admin/saml/sp-keys", headers=tenant.admin_headers())).json()
    theirs = await client.delete(
        f"/api/admin/saml/sp-keys/{key['id']}", headers=other_tenant.admin_headers()
    )
    assert theirs.status_code == 404
    assert (
        await client.get("/api/admin/saml/sp-keys", headers=other_tenant.admin_headers())
    ).json() == []


async def test_an_idp_that_wants_signed_requests_gets_them(
    client: httpx.AsyncClient, tenant: InstalledTenant, saml_idp: SigningIdp
) -> None:
    metadata = saml_idp.metadata().replace(
        b"<md:IDPSSODescriptor ", b'<md:IDPSSODescriptor WantAuthnRequestsSigned="true" '
    )
    created = await create_idp(
        client, tenant, name="Strict", preset="saml", metadata_xml=metadata.decode()
    )
    [certificate] = sp_certificates(await our_metadata(client, created), "signing")
    location = await start(client, tenant)
    query = urlsplit(location).query
    signed_part, _, _ = query.rpartition("&Signature=")
    signature = base64.b64decode(parse_qs(query)["Signature"][0])
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    public_key.verify(signature, signed_part.encode(), padding.PKCS1v15(), hashes.SHA256())


METADATA_URL = "https://idp.example.test/saml/metadata.xml"


async def test_a_rolled_over_certificate_is_learned_from_the_metadata_url(
    client: httpx.AsyncClient,
    app: FastAPI,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    network: respx.MockRouter,
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """The IdP signs with a new key and publishes it: the first Response it signs fails with
    the stored certificate, the metadata is read again (at most once a minute) and the
    Response passes. A forgery right after does not make us fetch again."""
    published = network.get(METADATA_URL).respond(200, content=saml_idp.metadata())
    created = await create_idp(
        client, tenant, name="By URL", preset="saml", metadata_url=METADATA_URL, trust_email=True
    )
    async with session() as s:  # the admin saved it a while ago
        idp = await repository.get_idp(s, tenant.tenant_id, created["id"])
        assert idp is not None
        stored = dict(idp.settings["idp_metadata"])
        stored["read_at"] = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
        idp.settings = {**idp.settings, "idp_metadata": stored}
        await s.commit()
    rolled = SigningIdp(entity_id=saml_idp.entity_id)
    published = network.get(METADATA_URL).respond(200, content=rolled.metadata())
    published.reset()
    request_id, relay_state = request_of(await start(client, tenant))
    response = await post_to_acs(
        client, created["acs_url"], answer(rolled, created, request_id), relay_state
    )
    assert response.status_code == 303, response.text
    assert published.call_count == 1
    assert len(provisioner.calls) == 1

    forger = SigningIdp(entity_id=saml_idp.entity_id)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as other:
        request_id, relay_state = request_of(await start(other, tenant))
        refused = await post_to_acs(
            other, created["acs_url"], answer(forger, created, request_id), relay_state
        )
    assert refused.status_code == 400
    assert published.call_count == 1  # within the minute: not fetched again
    assert any("bad_signature" in f for f in await failures(session))


async def test_metadata_is_read_again_when_it_is_due(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    network: respx.MockRouter,
    app: FastAPI,
    session: async_sessionmaker[AsyncSession],
) -> None:
    route = network.get(METADATA_URL).respond(200, content=saml_idp.metadata())
    created = await create_idp(
        client, tenant, name="By URL", preset="saml", metadata_url=METADATA_URL
    )
    http = app.state.services.get(httpx.AsyncClient)
    async with session() as s:
        idp = await repository.get_idp(s, tenant.tenant_id, created["id"])
        assert idp is not None
        soon = datetime.now(UTC) + timedelta(hours=1)
        assert not await refresh_metadata(idp, http, now=soon)  # daily by default: not due
        later = datetime.now(UTC) + timedelta(hours=25)
        assert await refresh_metadata(idp, http, now=later)
        assert route.call_count == 2
        network.get(METADATA_URL).respond(500)
        much_later = later + timedelta(days=2)
        assert not await refresh_metadata(idp, http, now=much_later)  # kept what it had
        assert idp.settings["idp_metadata"]["entity_id"] == saml_idp.entity_id


async def allow_idp_initiated(
    client: httpx.AsyncClient, tenant: InstalledTenant, configured: dict[str, Any]
) -> None:
    updated = await client.put(
        f"/api/admin/idps/{configured['id']}",
        json={"idp_initiated": "accept"},
        headers=tenant.admin_headers(),
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["idp_initiated"] == "accept"


async def test_an_idp_initiated_sign_in_lands_on_the_desk_its_relay_state_names(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await allow_idp_initiated(client, tenant, configured)
    document = answer(saml_idp, configured, None)
    response = await post_to_acs(client, configured["acs_url"], document, "7")
    assert response.status_code == 303, response.text
    assert response.headers["location"].endswith(f"/portal/{tenant.tenant_id}/7")
    assert [i.subject for i in provisioner.calls] == ["user-1"]
    # The same Assertion again (a replay from anywhere): refused, nothing more provisioned.
    again = await post_to_acs(client, configured["acs_url"], document, "7")
    assert again.status_code == 400
    assert len(provisioner.calls) == 1
    assert any("replayed_assertion" in f for f in await failures(session))


@pytest.mark.parametrize("relay_state", ["https://evil.example/phish", "", "//evil.example"])
async def test_an_idp_initiated_sign_in_never_goes_where_its_relay_state_points(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    relay_state: str,
) -> None:
    await allow_idp_initiated(client, tenant, configured)
    document = answer(saml_idp, configured, None)
    response = await post_to_acs(client, configured["acs_url"], document, relay_state)
    await assert_refused(response, provisioner, session, "names no help center")
    assert "evil.example" not in response.headers.get("location", "")


async def test_an_idp_initiated_forgery_is_refused_like_any_other(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    await allow_idp_initiated(client, tenant, configured)
    document = answer(SigningIdp(), configured, None)  # the attacker's own key
    response = await post_to_acs(client, configured["acs_url"], document, "7")
    await assert_refused(response, provisioner, session, "could not be verified", status=400)


async def test_a_saml_response_at_the_oidc_callback_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    configured: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """Each route takes its own protocol's answers: a valid Response for this very sign-in,
    sent to the OIDC callback, opens nothing."""
    request_id, relay_state = request_of(await start(client, tenant))
    document = answer(saml_idp, configured, request_id)
    response = await client.get(
        f"/oidc/{configured['id']}/callback",
        params={"state": relay_state, "SAMLResponse": base64.b64encode(document).decode()},
    )
    await assert_refused(response, provisioner, session, "came back to the wrong address")
