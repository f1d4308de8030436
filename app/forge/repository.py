"""Every statement about Forge installations: the tenant row a site's installation maps to,
the installations it has had, and its app system token.

A Forge site is one tenant, keyed by its cloud id: a new installation on the same cloud id
(after an uninstall, within the retention period) takes the tenant back with its
configuration, as a Connect reinstall does. The installation id is the one Forge put in the
verified invocation token; an id that was retired (``preUninstall``) never works again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import new_opaque_id
from app.db import insert_for
from app.errors import AuthenticationError
from app.models import ForgeInstallation, Tenant, table_of, utcnow
from app.tenants.changes import announce_config_change

# A token is kept only when it expires this much later than the one stored.
NEWER_BY = timedelta(minutes=1)


class InstallationRetiredError(AuthenticationError):
    """The installation was uninstalled: its tokens, events and calls are refused."""


class UnknownInstallationError(AuthenticationError):
    """No install event was ever received for this installation (no lazy creation)."""


async def is_retired(session: AsyncSession, installation_id: str) -> bool:
    retired_at = await session.scalar(
        select(ForgeInstallation.retired_at).where(
            ForgeInstallation.installation_id == installation_id
        )
    )
    return retired_at is not None


async def install(
    session: AsyncSession,
    *,
    installation_id: str,
    cloud_id: str,
    api_base_url: str,
    now: datetime | None = None,
) -> Tenant:
    """Record an install (or its redelivery, which changes nothing): the site's tenant,
    created or taken back, now answering to this installation id."""
    now = now or utcnow()
    if await is_retired(session, installation_id):
        raise InstallationRetiredError("this installation was uninstalled")
    # One statement, so two deliveries of the same event at once both find one tenant.
    await session.execute(
        insert_for(session)(table_of(Tenant))
        .values(
            id=new_opaque_id(),
            platform="forge",
            base_url="",
            cloud_id=cloud_id,
            installed=True,
            enabled=True,
            installed_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=[Tenant.cloud_id])
    )
    tenant = await session.scalar(
        select(Tenant)
        .where(Tenant.cloud_id == cloud_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert tenant is not None  # noqa: S101 - inserted or found just above
    if tenant.installation_id != installation_id:
        # A newer installation of the same site: the one before it is gone for good.
        if tenant.installation_id is not None:
            await _retire(session, tenant.installation_id, now=now)
        await session.execute(
            insert_for(session)(table_of(ForgeInstallation))
            .values(installation_id=installation_id, tenant_id=tenant.id, created_at=now)
            .on_conflict_do_nothing(index_elements=[ForgeInstallation.installation_id])
        )
        tenant.installation_id = installation_id
        tenant.installed_at = now
        # The old installation's token is not this one's.
        tenant.app_token_encrypted = None
        tenant.app_token_expires_at = None
    tenant.platform = "forge"
    tenant.api_base_url = api_base_url
    tenant.installed = True
    tenant.enabled = True
    tenant.uninstalled_at = None
    await session.flush()
    await announce_config_change(session, tenant.id)
    return tenant


async def tenant_for(session: AsyncSession, *, installation_id: str, cloud_id: str) -> Tenant:
    """The installed tenant this verified invocation is about, or a 401 that says why."""
    tenant = await session.scalar(
        select(Tenant).where(
            Tenant.installation_id == installation_id,
            Tenant.cloud_id == cloud_id,
            Tenant.installed.is_(True),
        )
    )
    if tenant is not None:
        return tenant
    if await is_retired(session, installation_id):
        raise InstallationRetiredError("this installation was uninstalled")
    raise UnknownInstallationError("this installation is not known to Portal SSO")


async def store_app_token(
    session: AsyncSession,
    tenant_id: str,
    *,
    token_encrypted: str,
    expires_at: datetime,
) -> bool:
    """Keep the token if it expires later than the one stored (one statement: of two calls
    racing, the later expiry wins whatever the order). Whether it was kept.

    "Later" means by more than ``NEWER_BY``: every admin call brings a token a few seconds
    younger than the last, and writing each one (with the announcement that evicts the site's
    cached configuration on every instance) would turn each admin read into a write."""
    result = await session.execute(
        update(table_of(Tenant))
        .where(
            Tenant.id == tenant_id,
            Tenant.installed.is_(True),
            or_(
                Tenant.app_token_expires_at.is_(None),
                Tenant.app_token_expires_at < expires_at - NEWER_BY,
            ),
        )
        .values(app_token_encrypted=token_encrypted, app_token_expires_at=expires_at)
        .returning(table_of(Tenant).c.id)
    )
    kept = result.first() is not None
    if kept:
        await announce_config_change(session, tenant_id)
    return kept


async def record_trigger(session: AsyncSession, tenant_id: str, *, now: datetime) -> None:
    """Forge's install event or hourly trigger reached us: the app is alive on the site."""
    await session.execute(
        update(table_of(Tenant)).where(Tenant.id == tenant_id).values(last_trigger_at=now)
    )
    await announce_config_change(session, tenant_id)


async def set_site_url(session: AsyncSession, tenant_id: str, base_url: str) -> None:
    await session.execute(
        update(table_of(Tenant))
        .where(Tenant.id == tenant_id)
        .values(base_url=base_url, updated_at=utcnow())
    )
    await announce_config_change(session, tenant_id)


async def uninstall(session: AsyncSession, tenant: Tenant, *, now: datetime | None = None) -> None:
    """``preUninstall``: the installation is retired, its token forgotten; the tenant's
    configuration stays for the retention period, for a reinstall on the same site."""
    now = now or utcnow()
    if tenant.installation_id is not None:
        await _retire(session, tenant.installation_id, now=now)
    await session.execute(
        update(table_of(Tenant))
        .where(Tenant.id == tenant.id)
        .values(
            installed=False,
            installation_id=None,
            uninstalled_at=now,
            app_token_encrypted=None,
            app_token_expires_at=None,
            updated_at=now,
        )
    )
    await announce_config_change(session, tenant.id)


async def _retire(session: AsyncSession, installation_id: str, *, now: datetime) -> None:
    await session.execute(
        update(table_of(ForgeInstallation))
        .where(
            ForgeInstallation.installation_id == installation_id,
            ForgeInstallation.retired_at.is_(None),
        )
        .values(retired_at=now)
    )
