"""The Guard bridge use case: Portal SSO as the one SAML identity provider Atlassian Guard
allows a site for its portal-only customers, with the site's own providers behind it.

The journey (DESIGN.md, Guard bridge rules):
1. ``receive``: Atlassian's AuthnRequest is checked against the site's registered SP (the
   protocol's part is ``app.saml.idp``) and parked as a ``GuardRequest``, found again by the
   random token in the journey's URL. Its ID is unique per site, so a replay is refused on
   every instance.
2. The customer signs in upstream as for a substitute link (the portal's pages), or already
   has a Portal SSO session of this site.
3. ``answer``: whose email may be asserted is decided (``refusal``), the request is spent
   (once, atomically), the signed Response is made for the registered ACS, and the issued
   assertion goes into the login activity.

Whose email may be asserted is the part that must be right, because Atlassian matches the
asserted email to an existing account: only a verified email reaches a portal session at all
(``app.idps.mapping``), and a domain that providers list in ``email_domains`` is bound to
them: no other provider asserts it. With ``bound_domains_only``, an address at a domain no
provider lists is refused too.
"""

from __future__ import annotations

import base64
import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.crypto import SecretBox
from app.db import insert_for
from app.errors import LoginError
from app.idps.repository import digest
from app.login.audit import record_login
from app.models import GuardRequest, IdentityProvider, PortalSession, TenantSettings
from app.saml import sp_keys
from app.saml.idp import (
    AssertedCustomer,
    AuthnRequestError,
    RegisteredSp,
    SpRequest,
    parse_request,
    read_authn_request,
    signed_response,
)
from app.urls import saml_idp_metadata_url, saml_idp_sso_url

logger = logging.getLogger(__name__)

# How long the customer has for the upstream sign-in. Longer than the oldest IssueInstant
# accepted (5 minutes and the clock skew), so the row also serves as the replay store.
JOURNEY_LIFETIME = timedelta(minutes=15)
AUDIT_PURPOSE = "guard"


@dataclass(frozen=True, slots=True)
class GuardBridge:
    """A site's registration of its Atlassian Guard SP (the ``guard_bridge`` setting)."""

    enabled: bool
    sp_entity_id: str
    acs_url: str
    sp_certificate: str | None = None
    bound_domains_only: bool = False

    @property
    def complete(self) -> bool:
        return bool(self.sp_entity_id and self.acs_url)

    @property
    def sp(self) -> RegisteredSp:
        return RegisteredSp(entity_id=self.sp_entity_id, acs_url=self.acs_url)

    def certificate(self) -> x509.Certificate | None:
        if not self.sp_certificate:
            return None
        return x509.load_pem_x509_certificate(self.sp_certificate.encode())


def bridge_setting(settings: TenantSettings) -> GuardBridge:
    """The stored setting (validated when the admin saved it), defaults when never saved."""
    stored: Mapping[str, Any] = settings.guard_bridge or {}
    return GuardBridge(
        enabled=bool(stored.get("enabled")),
        sp_entity_id=str(stored.get("sp_entity_id") or ""),
        acs_url=str(stored.get("acs_url") or ""),
        sp_certificate=stored.get("sp_certificate") or None,
        bound_domains_only=bool(stored.get("bound_domains_only")),
    )


def active_bridge(settings: TenantSettings) -> GuardBridge | None:
    """The bridge, when it is on and knows its SP; otherwise it answers nothing."""
    bridge = bridge_setting(settings)
    return bridge if bridge.enabled and bridge.complete else None


def describe_bridge_setting(settings: TenantSettings) -> dict[str, Any]:
    bridge = bridge_setting(settings)
    return {
        "enabled": bridge.enabled,
        "sp_entity_id": bridge.sp_entity_id,
        "acs_url": bridge.acs_url,
        "sp_certificate": bridge.sp_certificate,
        "bound_domains_only": bridge.bound_domains_only,
    }


def certificate_problem(pem: str) -> str | None:
    """Why ``pem`` cannot be the SP's signing certificate, or None."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        return "paste the certificate in PEM form (-----BEGIN CERTIFICATE-----)"
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return None
    return "the certificate's key must be RSA of at least 2048 bits"


class GuardRefusedError(LoginError):
    """The customer signed in, but this bridge may not assert their email to Atlassian."""

    code = "guard_refused"
    status_code = 403

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.audit_detail = f"{message} (native portal: {rule})"


class JourneyExpiredError(LoginError):
    code = "guard_journey_expired"
    status_code = 400

    def __init__(self) -> None:
        super().__init__(
            "this sign-in to the help center has expired or was already completed; open the "
            "help center again to sign in"
        )


# --- whose email may be asserted --------------------------------------------------------


def domain_bindings(idps: Iterable[IdentityProvider]) -> dict[str, list[IdentityProvider]]:
    """Each listed email domain, with the providers that list it (in the admin's order)."""
    bound: dict[str, list[IdentityProvider]] = defaultdict(list)
    for idp in idps:
        for domain in idp.email_domains or []:
            bound[domain.lower()].append(idp)
    return dict(bound)


def refusal(
    email: str,
    idp: IdentityProvider,
    idps: Sequence[IdentityProvider],
    *,
    bound_domains_only: bool,
) -> GuardRefusedError | None:
    """Why ``idp`` may not assert ``email`` to Atlassian, or None when it may."""
    domain = email.rpartition("@")[2].lower()
    owners = domain_bindings(idps).get(domain, [])
    if owners and all(owner.id != idp.id for owner in owners):
        return GuardRefusedError(
            f"{domain} is bound to {', '.join(owner.name for owner in owners)}",
            f"addresses at {domain} sign in to this help center through another sign-in "
            "option; sign out and choose that one",
        )
    if not owners and idp.email_domains:
        return GuardRefusedError(
            f"{idp.name} asserts only {', '.join(idp.email_domains)}",
            f"{idp.name} may not sign in addresses at {domain} to this help center; use the "
            "address your organization gave you",
        )
    if not owners and bound_domains_only:
        return GuardRefusedError(
            f"{domain} is bound to no provider",
            f"addresses at {domain} cannot sign in to this help center; ask the team that runs it",
        )
    return None


def describe_bindings(idps: Sequence[IdentityProvider]) -> dict[str, Any]:
    """The admin page's binding table: each listed domain and who may assert it, the
    providers bound to no domain, and warnings."""
    bound = domain_bindings(idps)
    warnings = [
        f"{domain} can be asserted by {len(owners)} providers ("
        f"{', '.join(owner.name for owner in owners)}): each of them can sign in any address "
        "there to the native portal"
        for domain, owners in sorted(bound.items())
        if len(owners) > 1
    ]
    unbound = [idp.name for idp in idps if not idp.email_domains]
    if unbound:
        warnings.append(
            f"{', '.join(unbound)} list no email domains: they may assert any address at a "
            "domain no provider lists, unless only bound domains are allowed"
        )
    return {
        "domains": [
            {"domain": domain, "idps": [o.name for o in owners], "shared": len(owners) > 1}
            for domain, owners in sorted(bound.items())
        ],
        "unbound_idps": unbound,
        "warnings": warnings,
    }


# --- the parked AuthnRequest ------------------------------------------------------------


async def receive(
    session: AsyncSession,
    *,
    tenant_id: str,
    bridge: GuardBridge,
    binding: str,
    saml_request: str,
    relay_state: str | None,
    raw_query: str,
    app_base_url: str,
    now: datetime,
) -> str:
    """Check Atlassian's AuthnRequest and park it; the journey's token. ``AuthnRequestError``
    (nothing stored) when it is not one to answer, a replay included. The caller commits."""
    root = parse_request(
        binding=binding,
        saml_request=saml_request,
        raw_query=raw_query,
        sp_certificate=bridge.certificate(),
    )
    request = read_authn_request(
        root, sp=bridge.sp, sso_url=saml_idp_sso_url(app_base_url, tenant_id), now=now
    )
    token = secrets.token_urlsafe(32)
    parked = await session.execute(
        insert_for(session)(GuardRequest)
        .values(
            token_hash=digest(token),
            tenant_id=tenant_id,
            request_hash=digest(request.id),
            request_id=request.id,
            relay_state=relay_state,
            force_authn=request.force_authn,
            sp_entity_id=bridge.sp_entity_id,
            acs_url=bridge.acs_url,
            created_at=now,
            expires_at=now + JOURNEY_LIFETIME,
        )
        # One statement: two instances given the same request at once cannot both park it.
        .on_conflict_do_nothing(index_elements=["tenant_id", "request_hash"])
        .returning(GuardRequest.token_hash)
    )
    if parked.first() is None:
        raise AuthnRequestError(
            "replayed_request", "this sign-in request was already used; start again"
        )
    return token


async def pending(
    session: AsyncSession, *, tenant_id: str, token: str, bridge: GuardBridge, now: datetime
) -> GuardRequest:
    """The parked request behind a journey's token: unspent, unexpired, and for the SP the
    site still registers; ``JourneyExpiredError`` otherwise."""
    row = await session.get(GuardRequest, digest(token))
    if (
        row is None
        or row.tenant_id != tenant_id
        or row.used_at is not None
        or row.expires_at <= now
        or (row.sp_entity_id, row.acs_url) != (bridge.sp_entity_id, bridge.acs_url)
    ):
        raise JourneyExpiredError
    return row


def session_counts(request: GuardRequest, record: PortalSession) -> bool:
    """Whether a Portal SSO session answers this request: any live one of the site, unless
    the SP asked for a fresh sign-in (``ForceAuthn``); then only one begun since."""
    return not request.force_authn or record.created_at >= request.created_at


# --- the answer ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PostToSp:
    """The auto-submitting form to Atlassian's ACS (HTTP-POST binding)."""

    acs_url: str
    fields: dict[str, str]


async def answer(
    session: AsyncSession,
    *,
    tenant_id: str,
    request: GuardRequest,
    record: PortalSession,
    idp: IdentityProvider,
    idps: Sequence[IdentityProvider],
    bridge: GuardBridge,
    box: SecretBox,
    app_base_url: str,
    now: datetime,
) -> PostToSp:
    """The signed Response for ``record``'s customer, or ``GuardRefusedError`` (audited,
    nothing issued). Commits: the request is spent and the assertion on record together."""
    problem = refusal(record.email, idp, idps, bound_domains_only=bridge.bound_domains_only)
    if problem is not None:
        await _audit(session, tenant_id, idp=idp, record=record, error=problem)
        await session.commit()
        raise problem
    spent = await session.execute(
        update(GuardRequest)
        .where(GuardRequest.token_hash == request.token_hash, GuardRequest.used_at.is_(None))
        .values(used_at=now)
        .returning(GuardRequest.token_hash)
    )
    if spent.first() is None:
        raise JourneyExpiredError  # answered already, in another tab
    keys = await sp_keys.active_keys(session, tenant_id, box=box, purpose=sp_keys.IDP)
    key = sp_keys.idp_signing_key(keys)
    document = signed_response(
        idp_entity_id=saml_idp_metadata_url(app_base_url, tenant_id),
        sp=RegisteredSp(entity_id=request.sp_entity_id, acs_url=request.acs_url),
        request=SpRequest(id=request.request_id, issue_instant=request.created_at),
        customer=AssertedCustomer(
            email=record.email,
            display_name=record.display_name,
            first_name=record.first_name,
            last_name=record.last_name,
        ),
        signing_key=key.private_key,
        certificate=key.certificate,
        now=now,
        authn_instant=record.created_at,
    )
    await _audit(session, tenant_id, idp=idp, record=record, acs_url=request.acs_url)
    await session.commit()
    fields = {"SAMLResponse": _base64(document)}
    if request.relay_state is not None:
        fields["RelayState"] = request.relay_state
    return PostToSp(acs_url=request.acs_url, fields=fields)


async def _audit(
    session: AsyncSession,
    tenant_id: str,
    *,
    idp: IdentityProvider,
    record: PortalSession,
    acs_url: str | None = None,
    error: GuardRefusedError | None = None,
) -> None:
    await record_login(
        session,
        tenant_id,
        idp_id=idp.id,
        idp_name=idp.name,
        outcome="failure" if error else "success",
        reason=error.audit_detail if error else f"assertion issued to {acs_url}",
        email=record.email,
        subject=record.subject,
        account_id=record.account_id,
        purpose=AUDIT_PURPOSE,
    )


def _base64(document: bytes) -> str:
    return base64.b64encode(document).decode("ascii")


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    result = await session.execute(delete(GuardRequest).where(GuardRequest.expires_at < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
