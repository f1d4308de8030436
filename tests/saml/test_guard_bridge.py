"""The Guard bridge end to end in the app: Atlassian's AuthnRequest at our SSO URL, the
customer's sign-in upstream (a SAML IdP here; the real OpenID Provider in
test_guard_bridge_interop), and the signed Response posted to the registered ACS, checked by
our own SP verifier with every profile rule. Each refusal: a readable page, nothing posted
to Atlassian, and (once a customer is known) an entry in the login activity."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography import x509
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.models import GuardRequest, LoginEvent
from app.saml.metadata import parse_metadata
from app.saml.response import SamlResponseError, ServiceProvider, TrustedIdp, verify_response
from tests.conftest import APP_BASE_URL, InstalledTenant, install_body
from tests.support.connect_tokens import InstallSigner
from tests.support.guard_bridge import (
    ACS_URL,
    SP_ENTITY_ID,
    PostedForm,
    posted_form,
    register_bridge,
    send_request,
)
from tests.support.login_fixtures import create_idp
from tests.support.saml_idp import SigningIdp
from tests.support.saml_login import answer, post_to_acs, request_of

UPSTREAM_EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"


@pytest.fixture
async def upstream(
    client: httpx.AsyncClient, tenant: InstalledTenant, saml_idp: SigningIdp
) -> dict[str, Any]:
    """The site's one provider, a SAML IdP whose addresses the admin trusts."""
    return await create_idp(
        client,
        tenant,
        name="Acme SAML",
        preset="saml",
        metadata_xml=saml_idp.metadata().decode(),
        trust_email=True,
    )


@pytest.fixture
async def bridge(client: httpx.AsyncClient, tenant: InstalledTenant) -> dict[str, Any]:
    response = await register_bridge(client, tenant)
    assert response.status_code == 200, response.text
    return dict(response.json()["guard_bridge"])


async def journey_start(client: httpx.AsyncClient, tenant: InstalledTenant, **request: Any) -> str:
    """Send Atlassian's request; the journey page it leads to."""
    received = await send_request(client, tenant, **request)
    assert received.status_code == 303, received.text
    journey = received.headers["location"]
    assert journey.startswith(f"/portal/{tenant.tenant_id}/guard/")
    return journey


async def sign_in_upstream(
    client: httpx.AsyncClient,
    journey: str,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
    email: str = "ann@acme.example",
) -> httpx.Response:
    """At the journey page with no session: the upstream login, and back to the journey."""
    to_idp = await client.get(journey)
    assert to_idp.status_code == 303, to_idp.text
    assert to_idp.headers["location"].startswith(saml_idp.sso_url)
    request_id, relay_state = request_of(to_idp.headers["location"])
    document = answer(
        saml_idp,
        upstream,
        request_id,
        attributes={UPSTREAM_EMAIL: [email], "displayName": ["Ann Example"]},
    )
    return await post_to_acs(client, upstream["acs_url"], document, relay_state)


async def bridge_certificates(client: httpx.AsyncClient, tenant: InstalledTenant) -> list[Any]:
    metadata = parse_metadata((await client.get(f"/saml-idp/{tenant.tenant_id}/metadata")).content)
    return [c.certificate for c in metadata.signing_certificates]


def atlassian_accepts(
    form: PostedForm, certificates: list[x509.Certificate], tenant: InstalledTenant, request_id: str
) -> Any:
    """What Atlassian's SP would check, by our own verifier with every profile rule."""
    assert form.action == ACS_URL
    return verify_response(
        form.document,
        sp=ServiceProvider(SP_ENTITY_ID, ACS_URL),
        idp=TrustedIdp(
            f"https://sso.example.test/saml-idp/{tenant.tenant_id}/metadata",
            certificates,
            require="both",
        ),
        expected_request_id=request_id,
        now=datetime.now(UTC),
    )


async def guard_events(session: async_sessionmaker[AsyncSession]) -> list[LoginEvent]:
    async with session() as s:
        return list(
            await s.scalars(
                select(LoginEvent).where(LoginEvent.purpose == "guard").order_by(LoginEvent.id)
            )
        )


@pytest.mark.usefixtures("bridge")
async def test_a_customer_reaches_atlassian_signed_in_after_their_own_idp(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    journey = await journey_start(client, tenant, request_id="_atl-1")
    back = await sign_in_upstream(client, journey, saml_idp, upstream)
    assert back.status_code == 303, back.text
    assert back.headers["location"] == journey
    page = await client.get(journey)
    form = posted_form(page)
    assert form.fields["RelayState"] == "atlassian-relay-state"  # returned unchanged
    assert page.headers["cache-control"] == "no-store"
    identity = atlassian_accepts(form, await bridge_certificates(client, tenant), tenant, "_atl-1")
    assert identity.name_id == "ann@acme.example"
    assert identity.name_id_format == "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    assert identity.attributes["email"] == ["ann@acme.example"]
    assert identity.attributes["name"] == ["Ann Example"]
    assert identity.session_index
    assert identity.not_on_or_after <= datetime.now(UTC) + timedelta(minutes=10)
    [event] = await guard_events(session)
    assert (event.outcome, event.email, event.idp_name) == (
        "success",
        "ann@acme.example",
        "Acme SAML",
    )
    assert event.reason == f"assertion issued to {ACS_URL}"
    # The journey is spent: the page does not answer twice.
    again = await client.get(journey)
    assert again.status_code == 400
    assert "expired or was already completed" in html.unescape(again.text)


@pytest.mark.usefixtures("bridge")
async def test_the_post_binding_is_answered_too(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    journey = await journey_start(client, tenant, binding="post", request_id="_atl-post")
    await sign_in_upstream(client, journey, saml_idp, upstream)
    form = posted_form(await client.get(journey))
    certificates = await bridge_certificates(client, tenant)
    assert atlassian_accepts(form, certificates, tenant, "_atl-post").name_id == "ann@acme.example"


@pytest.mark.usefixtures("bridge")
async def test_a_portal_sso_session_is_reused_without_another_upstream_login(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    first = await journey_start(client, tenant, request_id="_atl-1")
    await sign_in_upstream(client, first, saml_idp, upstream)
    posted_form(await client.get(first))
    second = await journey_start(client, tenant, request_id="_atl-2")
    form = posted_form(await client.get(second))  # straight to the answer
    certificates = await bridge_certificates(client, tenant)
    assert atlassian_accepts(form, certificates, tenant, "_atl-2").name_id == "ann@acme.example"


@pytest.mark.usefixtures("bridge")
async def test_force_authn_asks_for_a_fresh_upstream_sign_in(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    first = await journey_start(client, tenant, request_id="_atl-1")
    await sign_in_upstream(client, first, saml_idp, upstream)
    posted_form(await client.get(first))
    forced = await send_request(
        client, tenant, request_id="_atl-2", binding="post", force_authn=True
    )
    journey = forced.headers["location"]
    to_idp = await client.get(journey)
    assert to_idp.status_code == 303
    assert to_idp.headers["location"].startswith(saml_idp.sso_url)


async def test_another_sites_session_is_never_reused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    other_tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    for site in (tenant, other_tenant):
        assert (await register_bridge(client, site)).status_code == 200
    other_idp = SigningIdp(entity_id="https://other-idp.example.test/saml")
    await create_idp(
        client,
        other_tenant,
        name="Other SAML",
        preset="saml",
        metadata_xml=other_idp.metadata().decode(),
        trust_email=True,
    )
    first = await journey_start(client, tenant, request_id="_atl-1")
    await sign_in_upstream(client, first, saml_idp, upstream)
    posted_form(await client.get(first))
    at_other = await journey_start(client, other_tenant, request_id="_atl-1")
    to_idp = await client.get(at_other)
    assert to_idp.status_code == 303  # a sign-in there, not an answer
    assert to_idp.headers["location"].startswith(other_idp.sso_url)


# --- requests that are not answered -----------------------------------------------------


@pytest.mark.usefixtures("bridge", "upstream")
@pytest.mark.parametrize(
    ("request_fields", "shown"),
    [
        ({"sp_entity_id": "https://auth.atlassian.com/saml/someone-else"}, "has not registered"),
        ({"acs_url": "https://evil.example/acs"}, "unregistered address"),
        ({"now": datetime.now(UTC) - timedelta(minutes=10)}, "has expired"),
    ],
)
async def test_a_request_that_is_not_atlassians_registered_sp_gets_a_page_and_no_answer(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
    request_fields: dict[str, Any],
    shown: str,
) -> None:
    refused = await send_request(client, tenant, **request_fields)
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("text/html")
    page = html.unescape(refused.text)
    assert shown in page
    assert "saml-post" not in page
    assert "Traceback" not in page
    async with session() as s:
        assert (await s.scalars(select(GuardRequest))).all() == []


@pytest.mark.usefixtures("bridge", "upstream")
async def test_a_replayed_request_is_refused(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    await journey_start(client, tenant, request_id="_atl-once")
    replayed = await send_request(client, tenant, request_id="_atl-once", binding="post")
    assert replayed.status_code == 400
    assert "already used" in html.unescape(replayed.text)


@pytest.mark.usefixtures("upstream")
async def test_a_site_whose_bridge_is_off_answers_nothing(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    assert (await send_request(client, tenant)).status_code == 404  # never registered
    assert (await register_bridge(client, tenant, enabled=False)).status_code == 200
    off = await send_request(client, tenant)
    assert off.status_code == 404
    assert "not switched on" in html.unescape(off.text)
    # Switched off during a journey: the journey answers nothing either.
    assert (await register_bridge(client, tenant)).status_code == 200
    journey = await journey_start(client, tenant, request_id="_atl-then-off")
    assert (await register_bridge(client, tenant, enabled=False)).status_code == 200
    assert (await client.get(journey)).status_code == 404
    assert (await client.get("/saml-idp/no-such-site/sso?SAMLRequest=x")).status_code == 404


@pytest.mark.usefixtures("bridge", "upstream")
async def test_an_uninstalled_site_answers_nothing(
    client: httpx.AsyncClient, tenant: InstalledTenant, signer: InstallSigner
) -> None:
    journey = await journey_start(client, tenant, request_id="_atl-before")
    token = signer.token(
        client_key=tenant.client_key, aud=APP_BASE_URL, path="/lifecycle/uninstalled"
    )
    body = install_body(tenant.client_key, tenant.shared_secret) | {"eventType": "uninstalled"}
    uninstalled = await client.post(
        "/lifecycle/uninstalled", json=body, headers={"Authorization": f"JWT {token}"}
    )
    assert uninstalled.status_code == 204
    assert (await send_request(client, tenant, request_id="_atl-after")).status_code == 404
    assert (await client.get(journey)).status_code == 404
    assert (await client.get(f"/saml-idp/{tenant.tenant_id}/metadata")).status_code == 404


@pytest.mark.usefixtures("bridge")
async def test_a_changed_registration_ends_the_journeys_under_way(
    client: httpx.AsyncClient, tenant: InstalledTenant, upstream: dict[str, Any]
) -> None:
    del upstream
    journey = await journey_start(client, tenant)
    changed = await register_bridge(client, tenant, acs_url="https://auth.atlassian.com/other")
    assert changed.status_code == 200
    assert (await client.get(journey)).status_code == 400


# --- whose email may be asserted ----------------------------------------------------------


@pytest.mark.usefixtures("bridge")
async def test_an_unverified_upstream_email_gets_no_assertion(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    session: async_sessionmaker[AsyncSession],
) -> None:
    untrusted = await create_idp(
        client,
        tenant,
        name="Untrusted SAML",
        preset="saml",
        metadata_xml=saml_idp.metadata().decode(),
    )  # the admin did not vouch for its addresses, and SAML sends no email_verified
    journey = await journey_start(client, tenant)
    refused = await sign_in_upstream(client, journey, saml_idp, untrusted)
    assert refused.status_code == 400
    page = html.unescape(refused.text)
    assert "verified" in page
    assert journey in page  # the retry link: the same journey, while it lasts
    again = await client.get(journey)
    assert again.status_code == 303  # still no session: a sign-in, never an answer
    async with session() as s:
        [parked] = (await s.scalars(select(GuardRequest))).all()
        assert parked.used_at is None


@pytest.mark.usefixtures("bridge")
async def test_an_email_at_a_domain_bound_to_another_provider_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
    session: async_sessionmaker[AsyncSession],
) -> None:
    globex = SigningIdp(entity_id="https://globex-idp.example.test/saml")
    await create_idp(
        client,
        tenant,
        name="Globex SAML",
        preset="saml",
        metadata_xml=globex.metadata().decode(),
        trust_email=True,
        email_domains=["globex.example"],
    )
    # Acme's IdP asserts an address at Globex's domain.
    journey = await journey_start(client, tenant)
    choice = await client.get(journey)
    assert choice.status_code == 200  # two providers: the picker
    to_acme = await client.get(f"{journey}/login/{upstream['id']}")
    request_id, relay_state = request_of(to_acme.headers["location"])
    document = answer(
        saml_idp, upstream, request_id, attributes={UPSTREAM_EMAIL: ["boss@globex.example"]}
    )
    back = await post_to_acs(client, upstream["acs_url"], document, relay_state)
    assert back.headers["location"] == journey
    refused = await client.get(journey)
    assert refused.status_code == 403
    page = html.unescape(refused.text)
    assert "through another sign-in option" in page
    assert f'href="/portal/{tenant.tenant_id}/logout">Sign out' in page  # to choose another
    assert "saml-post" not in page
    [event] = await guard_events(session)
    assert event.outcome == "failure"
    assert event.email == "boss@globex.example"
    assert "globex.example is bound to Globex SAML" in (event.reason or "")


@pytest.mark.usefixtures("bridge")
async def test_a_provider_with_domains_asserts_only_those(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    bound = await client.put(
        f"/api/admin/idps/{upstream['id']}",
        json={"email_domains": ["acme.example"]},
        headers=tenant.admin_headers(),
    )
    assert bound.status_code == 200, bound.text
    journey = await journey_start(client, tenant)
    await sign_in_upstream(client, journey, saml_idp, upstream, email="ann@elsewhere.example")
    refused = await client.get(journey)
    assert refused.status_code == 403
    assert "may not sign in addresses at elsewhere.example" in html.unescape(refused.text)


async def test_only_bound_domains_when_the_admin_requires_binding(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    assert (await register_bridge(client, tenant, bound_domains_only=True)).status_code == 200
    journey = await journey_start(client, tenant)
    await sign_in_upstream(client, journey, saml_idp, upstream)
    refused = await client.get(journey)
    assert refused.status_code == 403
    assert "acme.example cannot sign in" in html.unescape(refused.text)


# --- the admin's side ----------------------------------------------------------------------


async def test_the_admin_sees_what_to_copy_and_the_domain_bindings(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    upstream: dict[str, Any],
    saml_idp: SigningIdp,
) -> None:
    del upstream
    await create_idp(
        client,
        tenant,
        name="Globex SAML",
        preset="saml",
        metadata_xml=SigningIdp(entity_id="https://g.example.test/saml").metadata().decode(),
        email_domains=["globex.example", "shared.example"],
    )
    await create_idp(
        client,
        tenant,
        name="Partner SAML",
        preset="saml",
        metadata_xml=SigningIdp(entity_id="https://p.example.test/saml").metadata().decode(),
        email_domains=["shared.example"],
    )
    view = await client.get("/api/admin/guard-bridge", headers=tenant.admin_headers())
    assert view.status_code == 200, view.text
    body = view.json()
    base = f"https://sso.example.test/saml-idp/{tenant.tenant_id}"
    assert (body["entity_id"], body["sso_url"], body["metadata_url"]) == (
        f"{base}/metadata",
        f"{base}/sso",
        f"{base}/metadata",
    )
    [key] = body["keys"]
    assert key["signing"]
    assert key["certificate_pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE" not in view.text
    assert body["domains"] == [
        {"domain": "globex.example", "idps": ["Globex SAML"], "shared": False},
        {"domain": "shared.example", "idps": ["Globex SAML", "Partner SAML"], "shared": True},
    ]
    assert body["unbound_idps"] == ["Acme SAML"]
    assert any("shared.example can be asserted by 2 providers" in w for w in body["warnings"])
    assert body["setting"]["enabled"] is False


@pytest.mark.parametrize(
    ("setting", "field", "says"),
    [
        ({"acs_url": ""}, "guard_bridge.acs_url", "Assertion Consumer Service URL"),
        ({"sp_entity_id": ""}, "guard_bridge.sp_entity_id", "SP entity ID"),
        ({"acs_url": "http://auth.atlassian.com/acs"}, "guard_bridge.acs_url", "https"),
        ({"sp_certificate": "not a certificate"}, "guard_bridge.sp_certificate", "PEM"),
        ({"surprise": 1}, "guard_bridge.surprise", ""),
    ],
)
async def test_a_bad_registration_is_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    setting: dict[str, Any],
    field: str,
    says: str,
) -> None:
    refused = await register_bridge(client, tenant, **setting)
    assert refused.status_code == 422, refused.text
    fields = refused.json()["fields"]
    assert field in fields, fields
    assert says in fields[field]
    stored = await client.get("/api/admin/settings", headers=tenant.admin_headers())
    assert stored.json()["guard_bridge"]["enabled"] is False


@pytest.mark.usefixtures("bridge")
async def test_the_signing_key_rotates_next_then_switch(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    saml_idp: SigningIdp,
    upstream: dict[str, Any],
) -> None:
    headers = tenant.admin_headers()
    [current] = await bridge_certificates(client, tenant)
    prepared = await client.post("/api/admin/guard-bridge/keys", headers=headers)
    assert prepared.status_code == 201, prepared.text
    assert [k["signing"] for k in prepared.json()["keys"]] == [True, False]
    published = await bridge_certificates(client, tenant)
    assert published[0] == current
    assert len(published) == 2
    assert (await client.post("/api/admin/guard-bridge/keys", headers=headers)).status_code == 422
    # Until the switch, the current key signs: Guard still trusts only its certificate.
    journey = await journey_start(client, tenant, request_id="_atl-1")
    await sign_in_upstream(client, journey, saml_idp, upstream)
    atlassian_accepts(posted_form(await client.get(journey)), [current], tenant, "_atl-1")
    switched = await client.post("/api/admin/guard-bridge/keys/switch", headers=headers)
    assert switched.status_code == 200, switched.text
    [following] = await bridge_certificates(client, tenant)
    assert following == published[1]
    second = await journey_start(client, tenant, request_id="_atl-2")
    form = posted_form(await client.get(second))
    atlassian_accepts(form, [following], tenant, "_atl-2")
    with pytest.raises(SamlResponseError) as old_key:
        atlassian_accepts(form, [current], tenant, "_atl-2")
    assert old_key.value.reason == "bad_signature"
    nothing_waiting = await client.post("/api/admin/guard-bridge/keys/switch", headers=headers)
    assert nothing_waiting.status_code == 422


@pytest.mark.usefixtures("bridge", "upstream")
async def test_requests_past_the_limit_get_429_and_park_nothing(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    settings: Settings,
    session: async_sessionmaker[AsyncSession],
) -> None:
    """Anyone can send an AuthnRequest with the registered Issuer (it is public), and each
    one parked is a row: they count against the per-IP limit of login starts, apart from
    the customers' own login starts."""
    limit = settings.login_starts_per_ip_per_minute
    statuses = [
        (await send_request(client, tenant, request_id=f"_atl-{n}")).status_code
        for n in range(limit + 1)
    ]
    assert statuses == [303] * limit + [429]
    async with session() as s:
        assert len((await s.scalars(select(GuardRequest))).all()) == limit
    # The customer's own login start is not used up by them.
    journey = (await client.get(f"/portal/{tenant.tenant_id}/7")).status_code
    assert journey == 303
