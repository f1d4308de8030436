"""Every SQL statement about tenant settings, customer links and managed organizations."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CustomerLink, ManagedOrganization, TenantSettings


async def get_settings(session: AsyncSession, tenant_id: str) -> TenantSettings:
    """The tenant's settings; defaults (not stored) when the admin never saved any."""
    row = await session.get(TenantSettings, tenant_id)
    if row is None:
        row = TenantSettings(
            tenant_id=tenant_id,
            jira_auth="app",
            landing="app_portal",
            allowed_email_domains=[],
            auto_create_customers=True,
            organization_sync=False,
        )
    return row


async def save_settings(session: AsyncSession, settings: TenantSettings) -> TenantSettings:
    merged = await session.merge(settings)
    await session.flush()
    return merged


async def get_link(
    session: AsyncSession, tenant_id: str, issuer: str, subject: str
) -> CustomerLink | None:
    return await session.get(CustomerLink, (tenant_id, issuer, subject))


async def save_link(session: AsyncSession, link: CustomerLink) -> CustomerLink:
    merged = await session.merge(link)
    await session.flush()
    return merged


async def managed_organizations(session: AsyncSession, tenant_id: str) -> dict[str, str]:
    rows: Sequence[ManagedOrganization] = (
        await session.scalars(
            select(ManagedOrganization).where(ManagedOrganization.tenant_id == tenant_id)
        )
    ).all()
    return {row.name: row.organization_id for row in rows}


async def add_managed_organization(
    session: AsyncSession, tenant_id: str, *, name: str, organization_id: str
) -> None:
    await session.merge(
        ManagedOrganization(tenant_id=tenant_id, name=name, organization_id=organization_id)
    )
    await session.flush()


async def forget_managed_organization(session: AsyncSession, tenant_id: str, name: str) -> None:
    await session.execute(
        delete(ManagedOrganization).where(
            ManagedOrganization.tenant_id == tenant_id, ManagedOrganization.name == name
        )
    )
