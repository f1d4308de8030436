"""Tenant repository: every SQL statement about ``tenants``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import new_opaque_id
from app.db import insert_for
from app.models import (
    CustomerLink,
    ForgeInstallation,
    FormSubmission,
    IdentityProvider,
    LoginEvent,
    LoginState,
    ManagedOrganization,
    PersonalDataReport,
    PortalSession,
    Tenant,
    TenantSettings,
    TestTicket,
    utcnow,
)
from app.tenants.changes import announce_config_change, announce_tenant_change


@dataclass(frozen=True, slots=True)
class Installation:
    client_key: str
    shared_secret_encrypted: str
    base_url: str
    display_url: str | None
    product_type: str | None
    description: str | None


async def get_by_client_key(session: AsyncSession, client_key: str) -> Tenant | None:
    result = await session.execute(select(Tenant).where(Tenant.client_key == client_key))
    return result.scalar_one_or_none()


async def get_by_id(session: AsyncSession, tenant_id: str) -> Tenant | None:
    return await session.get(Tenant, tenant_id)


async def upsert_installation(session: AsyncSession, installation: Installation) -> Tenant:
    """Insert a new tenant, or on a reinstall rotate its secret and URLs in one statement.

    A single INSERT .. ON CONFLICT keeps concurrent deliveries of the same ``installed``
    event from racing; the tenant id of an existing clientKey never changes, so substitute
    links and configuration survive uninstall and reinstall.
    """
    now = utcnow()
    values = {
        "client_key": installation.client_key,
        "shared_secret_encrypted": installation.shared_secret_encrypted,
        "base_url": installation.base_url,
        "display_url": installation.display_url,
        "product_type": installation.product_type,
        "description": installation.description,
        "installed": True,
        "uninstalled_at": None,
        "updated_at": now,
    }
    statement = insert_for(session)(Tenant).values(
        id=new_opaque_id(), enabled=True, installed_at=now, **values
    )
    statement = statement.on_conflict_do_update(
        index_elements=[Tenant.client_key],
        set_={key: statement.excluded[key] for key in values if key != "client_key"},
    )
    await session.execute(statement)
    await announce_tenant_change(session, installation.client_key)
    tenant = await session.scalar(
        select(Tenant)
        .where(Tenant.client_key == installation.client_key)
        .execution_options(populate_existing=True)
    )
    assert tenant is not None  # noqa: S101 - just upserted in this transaction
    return tenant


async def mark_uninstalled(session: AsyncSession, client_key: str) -> None:
    # Column-wise UPDATEs: an `uninstalled` and a `disabled` arriving together touch
    # different columns and cannot undo each other.
    await session.execute(
        update(Tenant)
        .where(Tenant.client_key == client_key)
        .values(installed=False, uninstalled_at=utcnow(), updated_at=utcnow())
    )
    await announce_tenant_change(session, client_key)


async def set_enabled(session: AsyncSession, client_key: str, *, enabled: bool) -> None:
    await session.execute(
        update(Tenant)
        .where(Tenant.client_key == client_key)
        .values(enabled=enabled, updated_at=utcnow())
    )
    await announce_tenant_change(session, client_key)


async def uninstalled_before(session: AsyncSession, cutoff: datetime) -> Sequence[str]:
    """Ids of the sites uninstalled before ``cutoff`` (due for purging)."""
    return (
        await session.scalars(
            select(Tenant.id).where(Tenant.installed.is_(False), Tenant.uninstalled_at < cutoff)
        )
    ).all()


_OWNED = (
    ManagedOrganization,
    FormSubmission,
    PersonalDataReport,
    LoginState,
    TestTicket,
    PortalSession,
    LoginEvent,
    CustomerLink,
    TenantSettings,
    IdentityProvider,
)


async def delete_tenant_data(session: AsyncSession, tenant_id: str) -> None:
    """Everything the app holds about a tenant, and the tenant itself."""
    for model in _OWNED:
        await session.execute(delete(model).where(model.tenant_id == tenant_id))
    # Its Forge installation ids stay, retired and no longer linked: never usable again.
    await session.execute(
        update(ForgeInstallation)
        .where(ForgeInstallation.tenant_id == tenant_id)
        .values(tenant_id=None, retired_at=func.coalesce(ForgeInstallation.retired_at, utcnow()))
    )
    client_key = await session.scalar(select(Tenant.client_key).where(Tenant.id == tenant_id))
    await session.execute(delete(Tenant).where(Tenant.id == tenant_id))
    # A Connect site is cached by its clientKey, every site's configuration by its id.
    await announce_tenant_change(session, client_key)
    await announce_config_change(session, tenant_id)


async def export_tenant_data(session: AsyncSession, tenant_id: str) -> dict[str, Any]:
    """The tenant's data as JSON-ready dicts; secrets are left out."""
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise LookupError(tenant_id)

    def row(obj: Any, *, skip: tuple[str, ...] = ()) -> dict[str, Any]:
        values = {}
        for column in obj.__table__.columns:
            if column.name in skip or column.name.endswith("_encrypted"):
                continue
            value = getattr(obj, column.key)
            values[column.name] = value.isoformat() if isinstance(value, datetime) else value
        return values

    export: dict[str, Any] = {"tenant": row(tenant)}
    for name, model in (
        ("identity_providers", IdentityProvider),
        ("settings", TenantSettings),
        ("customer_links", CustomerLink),
        ("login_events", LoginEvent),
    ):
        rows = (await session.scalars(select(model).where(model.tenant_id == tenant_id))).all()
        export[name] = [row(item) for item in rows]
    return export
