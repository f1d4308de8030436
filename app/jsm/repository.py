"""Every SQL statement about tenant settings, customer links and managed organizations."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import insert_for
from app.models import (
    CustomerLink,
    LoginEvent,
    ManagedOrganization,
    PersonalDataReport,
    PortalSession,
    Tenant,
    TenantSettings,
    table_of,
)

_SETTINGS = table_of(TenantSettings)


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


async def settings_for_update(session: AsyncSession, tenant_id: str) -> TenantSettings:
    """The tenant's settings row, created with the defaults if there is none yet, to change
    and flush. One INSERT .. ON CONFLICT DO NOTHING first: two admins saving a site's first
    settings at once then both update the one row, instead of the second failing on it."""
    await session.execute(
        insert_for(session)(_SETTINGS)
        .values(tenant_id=tenant_id)
        .on_conflict_do_nothing(index_elements=[_SETTINGS.c.tenant_id])
    )
    row = await session.get(TenantSettings, tenant_id, populate_existing=True)
    assert row is not None  # noqa: S101 - inserted or found just above
    return row


# Every login reads its link: built once, on the table (half the CPU of the ORM's path).
_LINKS = table_of(CustomerLink)
_FIND_LINK = select(_LINKS).where(
    _LINKS.c.tenant_id == bindparam("tenant_id"),
    _LINKS.c.issuer == bindparam("issuer"),
    _LINKS.c.subject == bindparam("subject"),
)
_UPDATE_CONTACT = (
    update(_LINKS)
    .where(
        _LINKS.c.tenant_id == bindparam("which_tenant"),
        _LINKS.c.issuer == bindparam("which_issuer"),
        _LINKS.c.subject == bindparam("which_subject"),
    )
    .values(email=bindparam("new_email"), display_name=bindparam("new_display_name"))
)


async def get_link(
    session: AsyncSession, tenant_id: str, issuer: str, subject: str
) -> CustomerLink | None:
    """A detached copy of the link: change it through ``save_link`` or ``update_contact``."""
    result = await session.execute(
        _FIND_LINK, {"tenant_id": tenant_id, "issuer": issuer, "subject": subject}
    )
    row = result.one_or_none()
    return CustomerLink(**row._mapping) if row is not None else None


async def update_contact(
    session: AsyncSession,
    tenant_id: str,
    issuer: str,
    subject: str,
    *,
    email: str,
    display_name: str,
) -> None:
    """The email and name the IdP now sends for this (issuer, subject)."""
    await session.execute(
        _UPDATE_CONTACT,
        {
            "which_tenant": tenant_id,
            "which_issuer": issuer,
            "which_subject": subject,
            "new_email": email,
            "new_display_name": display_name,
        },
    )


@functools.cache
def _link_upsert(insert: Callable[[Any], Any]) -> Any:
    # Built once per dialect: building ``excluded`` copies the table, a few hundred µs.
    statement = insert(_LINKS)  # the values come with each execution
    keys = [column.name for column in _LINKS.primary_key.columns]
    return statement.on_conflict_do_update(
        index_elements=keys,
        set_={
            c.name: statement.excluded[c.name]
            for c in _LINKS.columns
            if c.name not in keys and c.name != "created_at"
        },
    )


async def save_link(session: AsyncSession, link: CustomerLink) -> None:
    """Insert or update the link in one statement: the first login of one customer in two
    tabs (or on two instances) writes the same key twice, and both must succeed. The later
    write wins, except for when the link was first made."""
    values = {column.name: getattr(link, column.name) for column in _LINKS.columns}
    await session.execute(_link_upsert(insert_for(session)), values)


async def managed_organizations(session: AsyncSession, tenant_id: str) -> dict[str, str]:
    rows: Sequence[ManagedOrganization] = (
        await session.scalars(
            select(ManagedOrganization).where(ManagedOrganization.tenant_id == tenant_id)
        )
    ).all()
    return {row.name: row.organization_id for row in rows}


_ORGANIZATIONS = table_of(ManagedOrganization)


async def add_managed_organization(
    session: AsyncSession, tenant_id: str, *, name: str, organization_id: str
) -> str:
    """Keep ``organization_id`` for ``name``, unless a concurrent login kept one first: the
    id kept, which the caller then uses (so both customers end up in the same one)."""
    statement = insert_for(session)(_ORGANIZATIONS).values(
        tenant_id=tenant_id, name=name, organization_id=organization_id
    )
    await session.execute(
        statement.on_conflict_do_nothing(
            index_elements=[_ORGANIZATIONS.c.tenant_id, _ORGANIZATIONS.c.name]
        )
    )
    kept = await session.scalar(
        select(_ORGANIZATIONS.c.organization_id).where(
            _ORGANIZATIONS.c.tenant_id == tenant_id, _ORGANIZATIONS.c.name == name
        )
    )
    return str(kept)


# --- Atlassian's personal data reporting (app.jsm.personal_data) ----------------------------
async def active_sites(session: AsyncSession, *, platform: str) -> Sequence[Tenant]:
    return (
        await session.scalars(
            select(Tenant).where(
                Tenant.installed.is_(True), Tenant.enabled.is_(True), Tenant.platform == platform
            )
        )
    ).all()


async def due_accounts(
    session: AsyncSession, tenant_id: str, *, now: datetime, limit: int
) -> list[tuple[str, datetime]]:
    """Stored accounts of the site not reported within their cycle, with the time their
    data was last stored."""
    report = PersonalDataReport
    rows = await session.execute(
        select(CustomerLink.account_id, func.max(CustomerLink.refreshed_at))
        .outerjoin(
            report,
            and_(
                report.tenant_id == CustomerLink.tenant_id,
                report.account_id == CustomerLink.account_id,
            ),
        )
        .where(
            CustomerLink.tenant_id == tenant_id,
            or_(report.due_at.is_(None), report.due_at <= now),
        )
        .group_by(CustomerLink.account_id)
        .order_by(CustomerLink.account_id)
        .limit(limit)
    )
    return [(account_id, stored) for account_id, stored in rows.all()]


async def erase_account(session: AsyncSession, tenant_id: str, account_id: str) -> None:
    """Everything the app holds about a closed account at one site: its customer links and
    sessions go, and its login activity keeps the outcome but no longer says who."""
    links = (
        await session.execute(
            select(CustomerLink.subject, CustomerLink.email).where(
                CustomerLink.tenant_id == tenant_id, CustomerLink.account_id == account_id
            )
        )
    ).all()
    subjects = {subject for subject, _ in links}
    emails = {email for _, email in links}
    await session.execute(
        update(LoginEvent)
        .where(
            LoginEvent.tenant_id == tenant_id,
            or_(
                LoginEvent.account_id == account_id,
                LoginEvent.subject.in_(subjects),
                LoginEvent.email.in_(emails),
            ),
        )
        .values(account_id=None, subject=None, email=None)
    )
    for model in (PortalSession, CustomerLink, PersonalDataReport):
        await session.execute(
            delete(model).where(model.tenant_id == tenant_id, model.account_id == account_id)
        )


async def mark_reported(
    session: AsyncSession, tenant_id: str, account_ids: list[str], *, now: datetime, due: datetime
) -> None:
    if not account_ids:
        return
    # One statement for the whole batch (up to 90 rows), not one per account.
    statement = insert_for(session)(PersonalDataReport).values(
        [
            {"tenant_id": tenant_id, "account_id": a, "reported_at": now, "due_at": due}
            for a in account_ids
        ]
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["tenant_id", "account_id"],
            set_={
                "reported_at": statement.excluded.reported_at,
                "due_at": statement.excluded.due_at,
            },
        )
    )
