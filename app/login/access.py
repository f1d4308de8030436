"""Who may enter which portal: each service desk's access rule (DESIGN.md,
``/api/admin/portals/{id}/access``), and the one decision made from it, at sign-in and on
every entry to a desk.

* ``default``: the site's providers and allowed email domains (checked elsewhere, for every
  desk alike).
* ``restricted``: signed in through one of ``idps`` (any provider of the site when empty), and
  matching every non-empty one of ``email_domains``, ``claims`` (any of them) and
  ``organizations`` (any of the customer's JSM organizations).
* ``off``: nobody; the substitute link says the portal is not available.

A refusal names the rule that decided, for the login activity; the customer's page names no
rule, only whom to contact (the desk's ``contact`` text)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import LoginError
from app.models import DeskAccess

MODES = ("default", "restricted", "off")
CLAIM_OPS = ("equals", "contains")
MAX_RULES = 20  # per list, per desk
MAX_CLAIM_NAME = 200
MAX_CLAIM_VALUE = 256
MAX_KEPT_CLAIMS = 64


@dataclass(frozen=True, slots=True)
class ClaimRule:
    claim: str
    op: str
    value: str

    def matches(self, claims: Mapping[str, Any]) -> bool:
        """``equals``: the claim is this one value (a list of just it counts). ``contains``:
        one of the claim's values is this one, whole: an item of a list, or of a
        comma-separated string (Cognito's custom attributes are strings); never a part of a
        word ("partners-old" does not contain "partners")."""
        present = claims.get(self.claim)
        values = _strings(present)
        if self.op == "equals":
            return values == [self.value]
        items = [item.strip() for v in values for item in v.split(",")]
        return self.value in items


@dataclass(frozen=True, slots=True)
class AccessRule:
    mode: str = "default"
    idps: tuple[str, ...] = ()
    email_domains: tuple[str, ...] = ()
    claims: tuple[ClaimRule, ...] = ()
    organizations: tuple[str, ...] = ()
    contact: str = ""

    @property
    def empty(self) -> bool:
        return not (self.idps or self.email_domains or self.claims or self.organizations)


DEFAULT = AccessRule()


def rule_of(row: DeskAccess | None) -> AccessRule:
    if row is None:
        return DEFAULT
    return AccessRule(
        mode=row.mode,
        idps=tuple(row.idps or ()),
        email_domains=tuple(d.lower() for d in row.email_domains or ()),
        claims=tuple(
            ClaimRule(str(c.get("claim", "")), str(c.get("op", "equals")), str(c.get("value", "")))
            for c in row.claims or ()
        ),
        organizations=tuple(str(o) for o in row.organizations or ()),
        contact=row.contact or "",
    )


@dataclass(frozen=True, slots=True)
class Entrant:
    """Who is coming in: through which provider, with which email and claims."""

    idp_id: str
    email: str
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    because: str  # the rule that decided, for the login activity and the admin's test


class AccessRefusedError(LoginError):
    """This customer may not enter this desk's portal."""

    code = "desk_access_refused"
    status_code = 403

    def __init__(self, decision: Decision, rule: AccessRule) -> None:
        contact = f" {rule.contact.strip()}" if rule.contact.strip() else ""
        message = (
            "this help center is not available"
            if rule.mode == "off"
            else "you cannot use this help center with this sign-in"
        )
        super().__init__(f"{message}.{contact}")
        self.decision = decision
        self.audit_detail = f"desk access refused: {decision.because}"


async def decide(
    rule: AccessRule,
    entrant: Entrant,
    organizations: Callable[[], Awaitable[set[str]]] | None,
) -> Decision:
    """Whether ``entrant`` may enter a desk with ``rule``; ``organizations`` (the customer's
    JSM organization ids, a Jira call) is asked only when the rule names organizations.
    Without it (at sign-in, before the customer's account is known), the organization rule
    is left to the entry that follows."""
    if rule.mode == "off":
        return Decision(False, "the portal is off")
    if rule.mode != "restricted":
        return Decision(True, "the site's default")
    if rule.idps and entrant.idp_id not in rule.idps:
        return Decision(False, "signed in through a provider this desk does not accept")
    domain = entrant.email.rpartition("@")[2].lower()
    if rule.email_domains and domain not in rule.email_domains:
        return Decision(False, f"email domain {domain} is not one this desk accepts")
    if rule.claims and not any(c.matches(entrant.claims) for c in rule.claims):
        return Decision(False, "no claim matches this desk's claim rules")
    if rule.organizations and organizations is None:
        return Decision(True, "matches this desk's rules so far (organizations at entry)")
    if (
        rule.organizations
        and organizations is not None
        and not (set(rule.organizations) & await organizations())
    ):
        return Decision(False, "not in an organization this desk accepts")
    return Decision(True, "matches this desk's rules")


def kept_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """The claims a portal session keeps for later entries: strings and lists of strings,
    bounded in number and length (an IdP decides how much it sends)."""
    kept: dict[str, Any] = {}
    for name, value in claims.items():
        if len(kept) >= MAX_KEPT_CLAIMS or len(name) > MAX_CLAIM_NAME:
            continue
        if isinstance(value, str | int | bool):
            kept[name] = str(value)[:MAX_CLAIM_VALUE]
        elif isinstance(value, list) and all(isinstance(v, str | int) for v in value):
            kept[name] = [str(v)[:MAX_CLAIM_VALUE] for v in value[: MAX_RULES * 5]]
    return kept


def _strings(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if value is None:
        return []
    return [str(value)]


async def site_rules(session: AsyncSession, tenant_id: str) -> dict[str, DeskAccess]:
    """The site's desks that have a rule of their own, by desk id."""
    rows = await session.scalars(select(DeskAccess).where(DeskAccess.tenant_id == tenant_id))
    return {row.service_desk_id: row for row in rows}


async def desks_naming(session: AsyncSession, tenant_id: str, idp_id: str) -> list[DeskAccess]:
    """The desks whose rule names this provider (to update, or to warn about, when it goes)."""
    rules = await site_rules(session, tenant_id)
    return [row for _desk, row in sorted(rules.items()) if idp_id in (row.idps or [])]
