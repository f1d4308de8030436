"""The admin API for who may enter which portal (DESIGN.md): ``GET|PUT
/api/admin/portals/{service_desk_id}/access``, and ``POST /api/admin/portals/access/test``,
which tells, for a test login's provider, email and claims, what each desk would decide and
why. The rules and the decision are ``app.login.access``'s."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.admin.deps import AdminJWT
from app.admin.schemas import AccessTestView, AccessView
from app.db import SessionDep
from app.deps import services
from app.errors import InvalidInputError
from app.idps import repository as idp_repository
from app.jsm.directory import JiraDirectory
from app.login import access
from app.models import DeskAccess

router = APIRouter(prefix="/api/admin", tags=["admin"])

_DOMAIN = re.compile(r"^(?=.{1,253}$)[a-z0-9-]+(\.[a-z0-9-]+)+$")
_DESK_ID = re.compile(r"^[0-9]{1,18}$")

Text = Annotated[str, StringConstraints(strip_whitespace=True)]


class ClaimRuleInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    claim: Text = Field(min_length=1, max_length=access.MAX_CLAIM_NAME)
    op: Literal["equals", "contains"] = "equals"
    value: Text = Field(min_length=1, max_length=access.MAX_CLAIM_VALUE)


class AccessInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["default", "restricted", "off"]
    idps: list[Text] = Field(default_factory=list, max_length=access.MAX_RULES)
    email_domains: list[Text] = Field(default_factory=list, max_length=access.MAX_RULES)
    claims: list[ClaimRuleInput] = Field(default_factory=list, max_length=access.MAX_RULES)
    organizations: list[Text] = Field(default_factory=list, max_length=access.MAX_RULES)
    contact: Text = Field(default="", max_length=500)


def describe(service_desk_id: str, row: DeskAccess | None) -> dict[str, Any]:
    rule = access.rule_of(row)
    return {
        "service_desk_id": service_desk_id,
        "mode": rule.mode,
        "idps": list(rule.idps),
        "email_domains": list(rule.email_domains),
        "claims": [{"claim": c.claim, "op": c.op, "value": c.value} for c in rule.claims],
        "organizations": list(rule.organizations),
        "contact": rule.contact,
    }


def _desk_id(value: str) -> str:
    if not _DESK_ID.fullmatch(value):
        raise InvalidInputError(
            "some fields need attention", fields={"service_desk_id": "not a service desk id"}
        )
    return value


@router.get("/portals/{service_desk_id}/access", response_model=AccessView)
async def get_access(
    service_desk_id: str, context: AdminJWT, session: SessionDep
) -> dict[str, Any]:
    desk_id = _desk_id(service_desk_id)
    row = await session.get(DeskAccess, (context.tenant.id, desk_id))
    return describe(desk_id, row)


@router.put("/portals/{service_desk_id}/access", response_model=AccessView)
async def put_access(
    service_desk_id: str,
    body: AccessInput,
    request: Request,
    context: AdminJWT,
    session: SessionDep,
) -> dict[str, Any]:
    """Replace the desk's rule; 422 naming the field, and nothing stored, when it is not
    one the desk can have."""
    desk_id = _desk_id(service_desk_id)
    fields: dict[str, str] = {}
    site_idps = {idp.id for idp in await idp_repository.list_idps(session, context.tenant.id)}
    unknown = [i for i in body.idps if i not in site_idps]
    if unknown:
        fields["idps"] = (
            "these providers are not this site's (deleted, or of another site): "
            + ", ".join(unknown)
        )
    domains = [d.lower() for d in body.email_domains]
    bad = [d for d in domains if not _DOMAIN.fullmatch(d)]
    if bad:
        fields["email_domains"] = f"{bad[0]!r} is not a domain like example.com"
    if any(not o.isdigit() for o in body.organizations):
        fields["organizations"] = "give JSM organization ids (numbers)"
    restricted_without_rules = body.mode == "restricted" and not (
        body.idps or body.email_domains or body.claims or body.organizations
    )
    if restricted_without_rules:
        fields["mode"] = (
            "a restricted portal needs at least one rule; otherwise choose the site's default"
        )
    if fields:
        raise InvalidInputError("some fields need attention", fields=fields)
    # The desk must be one of the site's (one Jira call, answered from the directory's cache).
    directory: JiraDirectory = services(request).get(JiraDirectory)
    await directory.service_desk(session, context.tenant, desk_id)
    row = await session.get(DeskAccess, (context.tenant.id, desk_id))
    if row is None:
        row = DeskAccess(tenant_id=context.tenant.id, service_desk_id=desk_id)
        session.add(row)
    row.mode = body.mode
    row.idps = list(dict.fromkeys(body.idps))
    row.email_domains = list(dict.fromkeys(domains))
    row.claims = [c.model_dump() for c in body.claims]
    row.organizations = list(dict.fromkeys(body.organizations))
    row.contact = body.contact
    await session.flush()
    return describe(desk_id, row)


class AccessTestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    idp_id: Text = Field(min_length=1, max_length=64)
    email: Text = Field(default="", max_length=320)
    claims: dict[str, Any] = Field(default_factory=dict, max_length=access.MAX_KEPT_CLAIMS)
    # The claims of this provider's last Test connection instead of ``claims``.
    from_last_test: bool = False
    organizations: list[Text] = Field(default_factory=list, max_length=access.MAX_RULES)


@router.post("/portals/access/test", response_model=AccessTestView)
async def test_access(
    body: AccessTestInput, context: AdminJWT, session: SessionDep
) -> dict[str, Any]:
    """What each desk with a rule of its own would decide for this customer, and why
    (desks without one follow the site's default)."""
    idp = await idp_repository.get_idp(session, context.tenant.id, body.idp_id)
    if idp is None:
        raise InvalidInputError(
            "some fields need attention", fields={"idp_id": "no such identity provider here"}
        )
    claims = body.claims
    if body.from_last_test:
        if not idp.last_test_claims:
            raise InvalidInputError(
                "some fields need attention",
                fields={"from_last_test": "run Test connection for this provider first"},
            )
        claims = dict(idp.last_test_claims)
    email = body.email or str(claims.get("email") or "")
    if "@" not in email:
        raise InvalidInputError(
            "some fields need attention", fields={"email": "give the customer's email address"}
        )
    entrant = access.Entrant(idp.id, email.lower(), access.kept_claims(claims))
    wanted = set(body.organizations)

    async def organizations() -> set[str]:
        return wanted

    results = []
    for desk_id, row in sorted((await access.site_rules(session, context.tenant.id)).items()):
        decision = await access.decide(access.rule_of(row), entrant, organizations)
        results.append(
            {"service_desk_id": desk_id, "allowed": decision.allowed, "because": decision.because}
        )
    return {"desks": results}
