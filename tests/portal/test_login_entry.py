"""The substitute link's way in and out: picker, email routing, return paths, sign-out, and
sessions that never cross tenants or outlive their limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import PortalSession
from app.oidc.metadata import MetadataCache
from tests.conftest import InstalledTenant
from tests.support.connect_tokens import InstallSigner
from tests.support.hostile_op import HostileOP
from tests.support.login_fixtures import (
    DESK_ID,
    RecordingProvisioner,
    callback,
    create_idp,
    login,
    oauth2_idp,
)


async def second_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, **extra: Any
) -> dict[str, Any]:
    return await create_idp(
        client,
        tenant,
        name="Partners",
        preset="oidc",
        issuer=op.issuer,
        client_id=op.client_id,
        client_secret=op.client_secret,
        **extra,
    )


async def switch(
    client: httpx.AsyncClient, tenant: InstalledTenant, idp: dict[str, Any], *, on: bool
) -> None:
    """The admin switches the provider on or off."""
    response = await client.put(
        f"/api/admin/idps/{idp['id']}", json={"enabled": on}, headers=tenant.admin_headers()
    )
    assert response.status_code == 200, response.text


async def test_unknown_tenant_gets_a_clear_page_and_no_redirect(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/portal/nope/{DESK_ID}")
    assert response.status_code == 404
    assert "not valid" in response.text
    assert "location" not in response.headers


async def test_malformed_desk_id_gets_a_clear_page(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.get(f"/portal/{tenant.tenant_id}/abc")
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_uninstalled_tenant_gets_a_clear_page(
    client: httpx.AsyncClient, tenant: InstalledTenant, signer: InstallSigner, idp: dict[str, Any]
) -> None:
    from tests.conftest import APP_BASE_URL, install_body

    token = signer.token(
        client_key=tenant.client_key, aud=APP_BASE_URL, path="/lifecycle/uninstalled"
    )
    await client.post(
        "/lifecycle/uninstalled",
        json=install_body(tenant.client_key, tenant.shared_secret),
        headers={"Authorization": f"JWT {token}"},
    )
    response = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert response.status_code == 404
    assert "location" not in response.headers


async def test_no_identity_provider_yet(client: httpx.AsyncClient, tenant: InstalledTenant) -> None:
    response = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert response.status_code == 503
    assert "not set up yet" in response.text


async def test_several_idps_show_a_picker(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    other = await second_idp(client, tenant, op)
    page = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert page.status_code == 200
    assert "Continue with Example OP" in page.text
    assert "Continue with Partners" in page.text
    assert 'type="email"' not in page.text  # no domains configured: no email box
    chosen = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{other['id']}")
    assert chosen.status_code == 303
    assert f"%2Foidc%2F{other['id']}%2Fcallback" in chosen.headers["location"]


async def test_email_domain_routes_to_the_right_idp(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    partners = await second_idp(client, tenant, op, email_domains=["partner.example"])
    page = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert 'type="email"' in page.text
    routed = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": "bob@Partner.example"}
    )
    assert routed.status_code == 303
    assert f"%2Foidc%2F{partners['id']}%2Fcallback" in routed.headers["location"]
    unknown = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": "bob@else.example"}
    )
    assert unknown.status_code == 200
    assert "choose one below" in unknown.text


async def test_the_typed_address_goes_to_the_idp_as_login_hint(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    """OpenID Connect Core 3.1.2.1: an RP that asked for the address to find the IdP passes it
    on, so the customer does not type it twice."""
    await second_idp(client, tenant, op, email_domains=["partner.example"])
    routed = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": " bob@Partner.example "}
    )
    query = parse_qs(urlsplit(routed.headers["location"]).query)
    assert query["login_hint"] == ["bob@Partner.example"]
    # Only a typed address is a hint: a provider chosen from the list gets none.
    chosen = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{idp['id']}")
    assert "login_hint" not in parse_qs(urlsplit(chosen.headers["location"]).query)
    # Something no sign-in name holds still routes, but is not handed on.
    odd = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": "bob\tsmith@partner.example"}
    )
    assert odd.status_code == 303
    assert "login_hint" not in parse_qs(urlsplit(odd.headers["location"]).query)


async def test_an_address_the_site_does_not_accept_is_told_before_the_idp(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    await second_idp(client, tenant, op, email_domains=["partner.example"])
    allowed = await client.put(
        "/api/admin/settings",
        json={"allowed_email_domains": ["acme.test"]},
        headers=tenant.admin_headers(),
    )
    assert allowed.status_code == 200, allowed.text
    refused = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": "bob@partner.example"}
    )
    assert refused.status_code == 200
    assert "does not accept addresses at partner.example" in refused.text
    assert 'value="bob@partner.example"' in refused.text  # kept, to correct it
    assert "location" not in refused.headers  # not sent to an IdP
    accepted = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": "bob@Acme.test"}
    )
    assert "does not accept" not in accepted.text


async def test_a_plain_oauth2_provider_gets_no_login_hint(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    await oauth2_idp(client, tenant, op, email_domains=["partner.example"])
    routed = await client.post(
        f"/portal/{tenant.tenant_id}/{DESK_ID}/login", data={"email": "bob@partner.example"}
    )
    assert routed.headers["location"].startswith(op.authorization_endpoint)
    assert "login_hint" not in parse_qs(urlsplit(routed.headers["location"]).query)


async def test_disabled_idp_is_not_offered(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    other = await second_idp(client, tenant, op)
    await switch(client, tenant, other, on=False)
    response = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    assert response.status_code == 303  # one left: straight to it
    refused = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}/login/{other['id']}")
    assert refused.status_code == 404


async def test_a_safe_return_path_is_honoured(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    target = f"/portal/{tenant.tenant_id}/{DESK_ID}?tab=requests"
    start_response = await client.get(
        f"/portal/{tenant.tenant_id}/{DESK_ID}", params={"return_to": target}
    )
    response = await callback(client, op.authorize(start_response.headers["location"]))
    assert response.headers["location"] == target


@pytest.mark.parametrize(
    "evil",
    [
        "//evil.example/x",
        "https://evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "/portal/other-tenant/1",
        "/admin",
    ],
)
async def test_unsafe_return_paths_are_ignored(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    evil: str,
) -> None:
    start_response = await client.get(
        f"/portal/{tenant.tenant_id}/{DESK_ID}", params={"return_to": evil}
    )
    response = await callback(client, op.authorize(start_response.headers["location"]))
    assert response.headers["location"] == f"/portal/{tenant.tenant_id}/{DESK_ID}"


async def test_oidc_logout_uses_end_session_with_id_token_hint(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    response = await client.get(f"/portal/{tenant.tenant_id}/logout")
    target = urlsplit(response.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{op.issuer}/logout"
    query = parse_qs(target.query)
    assert query["post_logout_redirect_uri"] == [
        f"https://sso.example.test/portal/{tenant.tenant_id}/signed-out"
    ]
    assert query["id_token_hint"][0].count(".") == 2
    signed_out = await client.get(f"/portal/{tenant.tenant_id}/signed-out")
    assert "signed out" in signed_out.text


async def test_logout_without_a_session_lands_on_the_signed_out_page(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    response = await client.get(f"/portal/{tenant.tenant_id}/logout")
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/portal/{tenant.tenant_id}/signed-out")


async def test_a_session_never_works_for_another_tenant(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    other_tenant: InstalledTenant,
) -> None:
    response = await login(client, tenant, op)
    name = f"__Host-portal_session_{tenant.tenant_id}"
    cookie_value = response.cookies.get(name)
    assert cookie_value
    other = other_tenant
    await create_idp(
        client, other, name="B", preset="oidc", issuer=op.issuer, client_id="b", client_secret="c"
    )
    other_tenant_id = other.tenant_id
    # Even when the cookie is sent to the other tenant's path on purpose, it is refused there.
    page = await client.get(
        f"/portal/{other_tenant_id}/{DESK_ID}",
        headers={
            "Cookie": f"{name}={cookie_value}; __Host-portal_session_{other_tenant_id}={cookie_value}"
        },
    )
    assert page.status_code == 303  # a login starts: the session is not valid here


@pytest.mark.parametrize("limit", ["absolute", "idle"])
async def test_sessions_expire(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    limit: str,
) -> None:
    await login(client, tenant, op)
    assert (await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")).status_code == 200
    past = datetime.now(UTC) - timedelta(hours=9)
    values = (
        {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}
        if limit == "absolute"
        else {"last_seen_at": past}
    )
    async with session() as s:
        await s.execute(update(PortalSession).values(**values))
        await s.commit()
    assert (await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")).status_code == 303


async def test_flow_cookie_can_be_set_by_this_host_only(
    client: httpx.AsyncClient, tenant: InstalledTenant, op: HostileOP, idp: dict[str, Any]
) -> None:
    # A flow cookie a sibling subdomain could plant would let it bind its own sign-in to the
    # customer's browser (login CSRF); browsers accept __Host- cookies from this host only.
    response = await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-sso_flow=")
    assert "Path=/;" in cookie
    assert "domain" not in cookie.lower()
    assert "HttpOnly" in cookie
    assert "Secure" in cookie
    assert "SameSite=lax" in cookie
    assert "Max-Age=600" in cookie


async def test_sign_out_ends_the_session_even_when_the_idp_is_unreachable(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
    app: Any,
) -> None:
    assert (await login(client, tenant, op)).status_code == 303
    op.discovery_issuer = "https://evil.example"  # discovery now fails its issuer check
    app.state.services.get(MetadataCache)._documents.clear()  # as after the cache's expiry
    response = await client.get(f"/portal/{tenant.tenant_id}/logout")
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"/portal/{tenant.tenant_id}/signed-out")
    async with session() as s:
        assert await s.scalar(select(func.count()).select_from(PortalSession)) == 0


async def test_a_login_for_an_idp_disabled_mid_flow_is_refused(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    url = op.authorize(
        (await client.get(f"/portal/{tenant.tenant_id}/{DESK_ID}")).headers["location"]
    )
    await switch(client, tenant, idp, on=False)
    response = await callback(client, url)
    assert response.status_code == 400
    assert "switched off" in response.text
    assert provisioner.calls == []
    assert op.token_calls == 0
    async with session() as s:
        assert await s.scalar(select(func.count()).select_from(PortalSession)) == 0


async def test_switching_a_provider_off_ends_the_sessions_it_signed_in(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    session: async_sessionmaker[AsyncSession],
) -> None:
    home = f"/portal/{tenant.tenant_id}/{DESK_ID}"
    assert (await login(client, tenant, op)).status_code == 303
    assert (await client.get(f"{home}/requests")).status_code == 200
    await switch(client, tenant, idp, on=False)

    page = await client.get(f"{home}/requests")
    assert page.status_code == 303  # to sign in again, where the provider is off
    assert page.headers["location"].startswith(f"{home}?return_to=")
    async with session() as s:
        assert await s.scalar(select(func.count()).select_from(PortalSession)) == 0
    # Switching it back on does not bring the session back.
    await switch(client, tenant, idp, on=True)
    assert (await client.get(f"{home}/requests")).status_code == 303


async def test_switching_one_provider_off_leaves_the_others_sessions(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    other = await second_idp(client, tenant, op)
    home = f"/portal/{tenant.tenant_id}/{DESK_ID}"
    started = await client.get(f"{home}/login/{idp['id']}")
    assert (await callback(client, op.authorize(started.headers["location"]))).status_code == 303
    await switch(client, tenant, other, on=False)
    assert (await client.get(f"{home}/requests")).status_code == 200


async def test_taking_an_email_domain_off_the_allowed_list_ends_its_sessions(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
) -> None:
    home = f"/portal/{tenant.tenant_id}/{DESK_ID}"
    assert (await login(client, tenant, op)).status_code == 303  # ada@example.com
    allowed = await client.put(
        "/api/admin/settings",
        json={"allowed_email_domains": ["example.com", "acme.test"]},
        headers=tenant.admin_headers(),
    )
    assert allowed.status_code == 200
    assert (await client.get(f"{home}/requests")).status_code == 200
    narrowed = await client.put(
        "/api/admin/settings",
        json={"allowed_email_domains": ["acme.test"]},
        headers=tenant.admin_headers(),
    )
    assert narrowed.status_code == 200
    assert (await client.get(f"{home}/requests")).status_code == 303


async def test_sessions_at_two_sites_live_side_by_side_in_one_browser(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    op: HostileOP,
    idp: dict[str, Any],
    provisioner: RecordingProvisioner,
    other_tenant: InstalledTenant,
) -> None:
    other = other_tenant
    await second_idp(client, other, op)
    assert (await login(client, tenant, op)).status_code == 303
    assert (await login(client, other, op)).status_code == 303
    for site in (tenant, other):
        page = await client.get(f"/portal/{site.tenant_id}/{DESK_ID}/requests")
        assert page.status_code == 200, site.tenant_id
