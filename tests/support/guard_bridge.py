"""Helpers of the Guard bridge tests: Atlassian's side of the exchange (its registration,
its AuthnRequest over either binding) and the browser's (following the journey, reading the
form that posts our Response to the ACS)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from app.saml.authn import authn_request, redirect
from tests.conftest import InstalledTenant

# Shaped like what Atlassian Administration shows for an "Other provider" SAML set-up.
SP_ENTITY_ID = "https://auth.atlassian.com/saml/6f0c3b8e-guard-test"
ACS_URL = "https://auth.atlassian.com/login/callback?connection=saml-6f0c3b8e-guard-test"
APP = "https://sso.example.test"


def sso_url(tenant: InstalledTenant) -> str:
    return f"{APP}/saml-idp/{tenant.tenant_id}/sso"


async def register_bridge(
    client: httpx.AsyncClient, tenant: InstalledTenant, **setting: Any
) -> httpx.Response:
    body = {"enabled": True, "sp_entity_id": SP_ENTITY_ID, "acs_url": ACS_URL} | setting
    return await client.put(
        "/api/admin/settings", json={"guard_bridge": body}, headers=tenant.admin_headers()
    )


async def send_request(
    client: httpx.AsyncClient,
    tenant: InstalledTenant,
    *,
    request_id: str = "_atl-request-1",
    relay_state: str | None = "atlassian-relay-state",
    binding: str = "redirect",
    sp_entity_id: str = SP_ENTITY_ID,
    acs_url: str = ACS_URL,
    now: datetime | None = None,
    force_authn: bool = False,
) -> httpx.Response:
    """Atlassian's AuthnRequest, as the customer's browser brings it to our SSO URL."""
    if binding == "redirect":
        assert not force_authn, "ForceAuthn is sent over the POST binding here"
        url = redirect(
            sp_entity_id=sp_entity_id,
            acs_url=acs_url,
            sso_url=sso_url(tenant),
            relay_state=relay_state,
            signing_key=None,
            request_id=request_id,
            now=now,
        ).url
        parts = urlsplit(url)
        return await client.get(f"{parts.path}?{parts.query}")
    document = authn_request(
        request_id=request_id,
        sp_entity_id=sp_entity_id,
        acs_url=acs_url,
        sso_url=sso_url(tenant),
        now=now or datetime.now().astimezone(),
    )
    if force_authn:
        document = document.replace(
            b"<samlp:AuthnRequest ", b'<samlp:AuthnRequest ForceAuthn="true" ', 1
        )
    form = {"SAMLRequest": base64.b64encode(document).decode()}
    if relay_state is not None:
        form["RelayState"] = relay_state
    return await client.post(urlsplit(sso_url(tenant)).path, data=form)


@dataclass(frozen=True)
class PostedForm:
    action: str
    fields: dict[str, str]

    @property
    def document(self) -> bytes:
        return base64.b64decode(self.fields["SAMLResponse"])


def posted_form(page: httpx.Response) -> PostedForm:
    """The auto-submitting form of the page that answers Atlassian."""
    assert page.status_code == 200, page.text
    action = re.search(r'<form method="post" action="([^"]+)" id="saml-post"', page.text)
    assert action is not None, page.text
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text
        )
    }
    return PostedForm(html.unescape(action.group(1)), fields)
