"""Customer provisioning after a successful login: find or create the JSM customer, put them
in the desk (and mapped organizations), and remember it all.

Order (issue #4): a known (issuer, subject) link -> that account; else find by email (exact,
case-insensitive match on the returned accounts only); else create (a "customer exists" answer
means a race: search again). Then add to the desk and sync organizations. The link is written
last, in the caller's transaction, so a failure half way stores nothing that could mislead the
next login, which simply finds the customer by email and carries on; nothing is duplicated.

A returning customer whose link is fresh, with the desk already done and organizations
unchanged, costs no Jira call at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import OpenSession
from app.errors import JiraError, LoginError, PermissionDeniedError
from app.identity import MappedIdentity
from app.jsm import repository
from app.jsm.client import JiraClient
from app.jsm.directory import JiraDirectory
from app.jsm.schemas import (
    CreatedCustomerDTO,
    OrganizationDTO,
    PlatformUserDTO,
    parse,
    parse_list,
)
from app.models import CustomerLink, IdentityProvider, Tenant, TenantSettings


class CustomerNotAllowedError(PermissionDeniedError):
    code = "customer_not_allowed"


# Each organization costs up to three Jira calls on a first login. A directory's group list
# mapped by mistake (Entra ID sends up to 200 groups) would run to hundreds of calls and
# minutes, into Jira's rate limit, and put the customer in every group's organization.
MAX_SYNCED_ORGANIZATIONS = 50


class TooManyOrganizationsError(LoginError):
    code = "too_many_organizations"


def email_domain_allowed(email: str, allowed: Iterable[str]) -> bool:
    domains = [d.lower() for d in allowed if d]
    return not domains or email.rpartition("@")[2].lower() in domains


async def find_account_by_email(jira: JiraClient, email: str) -> str | None:
    """The one account whose email is exactly ``email`` (case-insensitive), else None.

    Jira's user search is fuzzy and returns near matches; only an exact match counts.
    """
    users = await jira.get_json(
        "/rest/api/3/user/search", params={"query": email, "maxResults": 50}
    )
    wanted = email.casefold()
    matches = {
        user.account_id
        for user in parse_list(PlatformUserDTO, users, "a user search")
        if user.account_id and user.email_address and user.email_address.casefold() == wanted
    }
    if len(matches) > 1:
        raise LoginError(
            "more than one Jira account uses your email address; ask your administrator"
        )
    return next(iter(matches), None)


async def create_customer(jira: JiraClient, identity: MappedIdentity) -> str:
    try:
        body = await jira.post_json(
            "/rest/servicedeskapi/customer",
            {"email": identity.email, "displayName": identity.display_name},
            # Safe to repeat: a repeat after a lost answer reports "exists", resolved below.
            retry_safe=True,
        )
    except JiraError as e:
        if e.jira_status not in (400, 409):
            raise
        # "exists": someone (or our own lost first attempt) created it meanwhile.
        account_id = await find_account_by_email(jira, identity.email)
        if account_id is None:
            raise
        return account_id
    if body is None:
        raise JiraError("Jira created the customer but did not say which account it is")
    return parse(CreatedCustomerDTO, body, "a created customer").account_id


async def sync_organizations(
    session: AsyncSession,
    jira: JiraClient,
    tenant_id: str,
    *,
    account_id: str,
    desk_id: str | None,
    wanted: Iterable[str],
    previous: Iterable[str],
) -> list[str]:
    """Put the customer in the wanted organizations (created when missing) and take them out
    of app-managed ones they left. Organizations the app does not manage are never touched."""
    wanted_names = sorted(dict.fromkeys(name.strip() for name in wanted if name.strip()))
    managed = await repository.managed_organizations(session, tenant_id)
    for name in wanted_names:
        organization_id = managed.get(name)
        if organization_id is None:
            body = await jira.post_json("/rest/servicedeskapi/organization", {"name": name})
            if body is None:
                raise JiraError("Jira created an organization but did not say which")
            organization_id = parse(OrganizationDTO, body, "a created organization").id
            organization_id = await repository.add_managed_organization(
                session, tenant_id, name=name, organization_id=organization_id
            )
            managed[name] = organization_id
        if desk_id:
            await jira.request(
                "POST",
                f"/rest/servicedeskapi/servicedesk/{desk_id}/organization",
                json={"organizationId": int(organization_id)},
                retry_safe=True,
            )
        await jira.request(
            "POST",
            f"/rest/servicedeskapi/organization/{organization_id}/user",
            json={"accountIds": [account_id]},
            retry_safe=True,
        )
    for name in set(previous) - set(wanted_names):
        organization_id = managed.get(name)
        if organization_id is None:
            continue
        await jira.request(
            "DELETE",
            f"/rest/servicedeskapi/organization/{organization_id}/user",
            json={"accountIds": [account_id]},
        )
    return wanted_names


async def add_to_desk(jira: JiraClient, account_id: str, desk_id: str) -> None:
    """Make the account a customer of the desk: JSM refuses requests raised on behalf of
    anyone else (when the desk is open only to its customers)."""
    await jira.request(
        "POST",
        f"/rest/servicedeskapi/servicedesk/{desk_id}/customer",
        json={"accountIds": [account_id]},
        retry_safe=True,  # adding a member twice changes nothing
    )


async def join_desk(
    session: AsyncSession,
    open_session: OpenSession,
    jira: JiraClient,
    tenant_id: str,
    *,
    issuer: str,
    subject: str,
    account_id: str,
    desk_id: str,
) -> None:
    """A signed-in customer opening another desk of the site (its own substitute link): add
    them there once, as a login at that desk would have, and remember it in their link. The
    check reads through the page's ``session``; the rare write has a short transaction of its
    own (``open_session``), so the page's request holds no write while it goes on."""
    link = await repository.get_link(session, tenant_id, issuer, subject)
    if link is None or desk_id in link.service_desk_ids:
        return
    await add_to_desk(jira, account_id, desk_id)
    async with open_session() as own:
        fresh = await repository.get_link(own, tenant_id, issuer, subject)
        if fresh is None or desk_id in fresh.service_desk_ids:
            return
        fresh.service_desk_ids = [*fresh.service_desk_ids, desk_id]
        await repository.save_link(own, fresh)
        await own.commit()


SettingsSource = Callable[[AsyncSession, str], Awaitable[TenantSettings]]


class JsmProvisioner:
    """``CustomerProvisioner`` against the tenant's Jira Service Management."""

    def __init__(
        self,
        directory: JiraDirectory,
        *,
        refresh_interval: timedelta,
        settings_for: SettingsSource = repository.get_settings,
    ) -> None:
        self._directory = directory
        self._refresh_interval = refresh_interval
        # The app passes the cached tenant configuration's settings (no query per login).
        self._settings_for = settings_for

    async def provision(
        self,
        session: AsyncSession,
        *,
        tenant: Tenant,
        idp: IdentityProvider,
        identity: MappedIdentity,
        service_desk_id: str | None,
    ) -> str:
        del idp  # the binding is to (issuer, subject), whichever IdP object carried it
        settings = await self._settings_for(session, tenant.id)
        if not email_domain_allowed(identity.email, settings.allowed_email_domains):
            raise CustomerNotAllowedError(
                "your email address is not one this help center accepts; ask your administrator"
            )
        now = datetime.now(UTC)
        link = await repository.get_link(session, tenant.id, identity.issuer, identity.subject)
        wanted_orgs = sorted(set(identity.organizations)) if settings.organization_sync else []
        if len(wanted_orgs) > MAX_SYNCED_ORGANIZATIONS:
            raise TooManyOrganizationsError(
                f"your identity provider names {len(wanted_orgs)} organizations for you, more "
                f"than the {MAX_SYNCED_ORGANIZATIONS} this help center keeps in step; ask your "
                "administrator to map organizations from an attribute with fewer values"
            )
        if link is not None and self._nothing_to_do(
            link, service_desk_id, wanted_orgs, settings, now
        ):
            if link.email != identity.email or link.display_name != identity.display_name:
                await repository.update_contact(
                    session,
                    tenant.id,
                    identity.issuer,
                    identity.subject,
                    email=identity.email,
                    display_name=identity.display_name,
                )
            return link.account_id

        jira = await self._directory.client(session, tenant)
        account_id = link.account_id if link else await find_account_by_email(jira, identity.email)
        if account_id is None:
            if not settings.auto_create_customers:
                raise CustomerNotAllowedError(
                    "you do not have an account in this help center yet; ask your administrator "
                    "to add you as a customer"
                )
            account_id = await create_customer(jira, identity)
        desks = list(link.service_desk_ids) if link else []
        if service_desk_id and service_desk_id not in desks:
            await add_to_desk(jira, account_id, service_desk_id)
            desks.append(service_desk_id)
        organizations = list(link.organizations) if link else []
        if (
            settings.organization_sync
            and (wanted_orgs or organizations)
            and wanted_orgs != sorted(organizations)
        ):
            organizations = await sync_organizations(
                session,
                jira,
                tenant.id,
                account_id=account_id,
                desk_id=service_desk_id,
                wanted=wanted_orgs,
                previous=organizations,
            )
        await repository.save_link(
            session,
            CustomerLink(
                tenant_id=tenant.id,
                issuer=identity.issuer,
                subject=identity.subject,
                account_id=account_id,
                email=identity.email,
                display_name=identity.display_name,
                service_desk_ids=desks,
                organizations=organizations,
                refreshed_at=now,
                created_at=link.created_at if link else now,
            ),
        )
        return account_id

    def _nothing_to_do(
        self,
        link: CustomerLink,
        desk_id: str | None,
        wanted_orgs: list[str],
        settings: TenantSettings,
        now: datetime,
    ) -> bool:
        if link.refreshed_at + self._refresh_interval <= now:
            return False
        if desk_id and desk_id not in link.service_desk_ids:
            return False
        return not settings.organization_sync or wanted_orgs == sorted(link.organizations)


def describe_settings(settings: TenantSettings) -> dict[str, Any]:
    return {
        "jira_auth": settings.jira_auth,
        "service_account_email": settings.service_account_email,
        "has_service_account_token": bool(settings.service_account_token_encrypted),
        "landing": settings.landing,
        "allowed_email_domains": list(settings.allowed_email_domains),
        "auto_create_customers": settings.auto_create_customers,
        "organization_sync": settings.organization_sync,
    }
