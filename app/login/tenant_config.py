"""What a customer's login needs to know about a tenant, cached per process.

The tenant row, its identity providers (in the admin's order) and its settings, read together
on a miss and then served from ``TenantCache`` until the tenant, one of its IdPs or its
settings change (on any instance: see ``app.tenants.cache``). The objects are
detached snapshots shared by concurrent requests: read them, never change them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import OpenSession
from app.deps import services
from app.idps import repository as idp_repository
from app.jsm import repository as jsm_repository
from app.login.access import AccessRule, rule_of, site_rules
from app.models import DeskAccess, IdentityProvider, Tenant, TenantSettings
from app.tenants import repository as tenants
from app.tenants.cache import TenantCache


@dataclass(frozen=True, slots=True)
class TenantConfig:
    tenant: Tenant
    idps: tuple[IdentityProvider, ...]
    settings: TenantSettings
    desk_rules: Mapping[str, DeskAccess] = field(default_factory=dict)
    # Renderings of this snapshot (the admin API's JSON bodies), each built once: a snapshot
    # never changes, a write replaces it.
    renderings: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def rendered(self, name: str, render: Callable[[], bytes]) -> bytes:
        body = self.renderings.get(name)
        if body is None:
            body = self.renderings[name] = render()
        return body

    def rule(self, desk_id: str | None) -> AccessRule:
        """Who may enter this desk (the site's default for a desk with no rule)."""
        return rule_of(self.desk_rules.get(desk_id or ""))

    def idps_for(self, desk_id: str) -> list[IdentityProvider]:
        """The enabled providers a customer may choose at this desk (none at one that is off:
        no sign-in starts there only to be refused at its end)."""
        rule = self.rule(desk_id)
        if rule.mode == "off":
            return []
        if rule.mode == "restricted" and rule.idps:
            return [idp for idp in self.enabled_idps if idp.id in rule.idps]
        return self.enabled_idps

    @property
    def enabled_idps(self) -> list[IdentityProvider]:
        return [idp for idp in self.idps if idp.enabled]

    def idp(self, idp_id: str) -> IdentityProvider | None:
        return next((idp for idp in self.idps if idp.id == idp_id), None)


async def _load(session: AsyncSession, *, tenant_id: str) -> tuple[str | None, TenantConfig] | None:
    tenant = await tenants.get_by_id(session, tenant_id)
    if tenant is None:
        return None
    idps = await idp_repository.list_idps(session, tenant_id)
    settings = await jsm_repository.get_settings(session, tenant_id)
    rules = await site_rules(session, tenant_id)
    return tenant.client_key, TenantConfig(tenant, tuple(idps), settings, rules)


async def load_tenant_config(
    cache: TenantCache, open_session: OpenSession, tenant_id: str
) -> TenantConfig | None:
    return await cache.for_tenant(open_session, tenant_id, partial(_load, tenant_id=tenant_id))


async def tenant_config(request: Request, tenant_id: str) -> TenantConfig | None:
    held = services(request)
    return await load_tenant_config(held.get(TenantCache), held.get(async_sessionmaker), tenant_id)
