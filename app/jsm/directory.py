"""The tenant's Jira as the app sees it: which client to use, its service desks (briefly
cached), substitute links, and whether a user is a Jira administrator."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.bounded import put_bounded
from app.crypto import SecretBox
from app.errors import JiraError, JiraUnavailableError, NotFoundError
from app.jsm import portal_api, repository
from app.jsm.auth import AppAccess, JiraAccess, ServiceAccountAuth
from app.jsm.client import JiraClient, RetryPolicy
from app.jsm.schemas import FirstPageDTO, PermissionsDTO, ServiceDeskDTO, parse
from app.models import Tenant, TenantSettings

DESK_TTL_SECONDS = 300.0
MISSING_DESK_TTL_SECONDS = 60.0
ADMIN_TTL_SECONDS = 300.0
MAX_ENTRIES = 10_000  # per cache


# The name the portal and admin code know it by.
JiraNotConfiguredError = JiraUnavailableError


@dataclass(frozen=True, slots=True)
class ServiceDesk:
    id: str
    project_id: str
    project_key: str
    name: str
    portal_id: str | None


class JiraDirectory:
    """Builds per-tenant clients and holds the short-lived caches that make logins cheap.

    Caches are per process: desks and admin checks may be a few minutes stale, which the
    product accepts (a desk removed in Jira is noticed within minutes).
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        box: SecretBox,
        app_access: AppAccess,
        policy: RetryPolicy | None = None,
        observe: Callable[[str, int, float], None] | None = None,
    ) -> None:
        self._observe = observe
        self._http = http
        self._box = box
        self._app_access = app_access
        self._policy = policy or RetryPolicy()
        self._desks: dict[tuple[str, str], tuple[float, ServiceDesk | None]] = {}
        self._desk_lists: dict[str, tuple[float, list[ServiceDesk]]] = {}
        self._admins: dict[tuple[str, str, str], tuple[float, bool]] = {}
        self._organization_fields: dict[str, tuple[float, str | None]] = {}

    async def client(self, session: AsyncSession, tenant: Tenant) -> JiraClient:
        """The client for customers' business: the service account when the tenant chose
        one, else the app itself; and the service account too when the app has no valid
        credential for the site (a Forge site whose token lapsed) and the admin set one."""
        settings = await repository.get_settings(session, tenant.id)
        if settings.jira_auth == "api_token":
            service_account = self._service_account(tenant, settings)
            if service_account is None:
                raise JiraNotConfiguredError(
                    "the app is set to use a service account, but its email or API token is missing"
                )
            return self._client(service_account)
        try:
            return self._client(self._app_access(tenant))
        except JiraUnavailableError:
            fallback = self._service_account(tenant, settings)
            if fallback is None:
                raise
            return self._client(fallback)

    def _service_account(self, tenant: Tenant, settings: TenantSettings) -> JiraAccess | None:
        email = settings.service_account_email
        token = settings.service_account_token_encrypted
        if not email or not token or not tenant.base_url:
            return None
        # API tokens authenticate on the site's own URL.
        auth = ServiceAccountAuth(email=email, api_token=self._box.decrypt(token))
        return JiraAccess(tenant.base_url.rstrip("/"), auth)

    def app_client(self, tenant: Tenant) -> JiraClient:
        """A client that calls as the app itself, whatever the tenant chose for customers:
        for the app's own questions, which a broken service account must not block."""
        return self._client(self._app_access(tenant))

    def _client(self, access: JiraAccess) -> JiraClient:
        return JiraClient(
            self._http,
            base_url=access.base_url,
            auth=access.auth,
            policy=self._policy,
            observe=self._observe,
        )

    def forget(self, tenant_id: str) -> None:
        self._desk_lists.pop(tenant_id, None)
        for desk_key in [key for key in self._desks if key[0] == tenant_id]:
            del self._desks[desk_key]
        for admin_key in [key for key in self._admins if key[0] == tenant_id]:
            del self._admins[admin_key]
        self._organization_fields.pop(tenant_id, None)

    async def organizations_field(self, jira: JiraClient, tenant: Tenant) -> str | None:
        """The site's id of JSM's Organizations field (its whole field list is a large
        answer, and the id does not change: asked once per site every few minutes)."""
        cached = self._organization_fields.get(tenant.id)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        field_id = await portal_api.organizations_field(jira)
        put_bounded(
            self._organization_fields,
            tenant.id,
            (time.monotonic() + DESK_TTL_SECONDS, field_id),
            max_entries=MAX_ENTRIES,
        )
        return field_id

    async def service_desks(
        self, jira: JiraClient, tenant: Tenant, *, fresh: bool = False
    ) -> list[ServiceDesk]:
        cached = self._desk_lists.get(tenant.id)
        if cached and not fresh and cached[0] > time.monotonic():
            return cached[1]
        desks: list[ServiceDesk] = []
        async for value in jira.paged(
            "/rest/servicedeskapi/servicedesk", ServiceDeskDTO, what="a service desk"
        ):
            desks.append(await self.with_portal_id(jira, _desk(value)))
        put_bounded(
            self._desk_lists,
            tenant.id,
            (time.monotonic() + DESK_TTL_SECONDS, desks),
            max_entries=MAX_ENTRIES,
        )
        return desks

    async def service_desk(
        self, session: AsyncSession, tenant: Tenant, desk_id: str
    ) -> ServiceDesk:
        """The desk, or ``NotFoundError`` when Jira no longer has it (answers cached briefly,
        so most substitute-link visits cost no Jira call and no settings read)."""
        key = (tenant.id, desk_id)
        cached = self._desks.get(key)
        if cached and cached[0] > time.monotonic():
            desk = cached[1]
        else:
            jira = await self.client(session, tenant)
            try:
                desk = _desk(
                    parse(
                        ServiceDeskDTO,
                        await jira.get_json(f"/rest/servicedeskapi/servicedesk/{desk_id}"),
                        "a service desk",
                    )
                )
                put_bounded(
                    self._desks,
                    key,
                    (time.monotonic() + DESK_TTL_SECONDS, desk),
                    max_entries=MAX_ENTRIES,
                )
            except JiraError as e:
                if e.jira_status != 404:
                    raise
                desk = None
                put_bounded(
                    self._desks,
                    key,
                    (time.monotonic() + MISSING_DESK_TTL_SECONDS, None),
                    max_entries=MAX_ENTRIES,
                )
        if desk is None:
            raise NotFoundError(
                "this help center no longer exists; ask the team that gave you the link"
            )
        return desk

    async def with_portal_id(self, jira: JiraClient, desk: ServiceDesk) -> ServiceDesk:
        """The desk with its portal id, which the desk listing lacks and request types carry."""
        if desk.portal_id is not None:
            return desk
        page = await jira.get_json(
            f"/rest/servicedeskapi/servicedesk/{desk.id}/requesttype", params={"limit": 1}
        )
        first = next(iter(parse(FirstPageDTO, page, "a request type").values), None)
        return replace(desk, portal_id=first.portal_id if first else None)

    async def is_admin(self, tenant: Tenant, account_id: str) -> bool:
        """Whether the account has Jira's global ADMINISTER permission (cached a few minutes).

        Asked as the app itself, never through the service account: an expired or revoked
        API token must not lock the administrators out of the screen where they replace it."""
        cached = self._admins.get(self._admin_key(tenant, account_id))
        if cached and cached[0] > time.monotonic():
            return cached[1]
        return await self.check_admin(self.app_client(tenant), tenant, account_id)

    async def check_admin(self, jira: JiraClient, tenant: Tenant, account_id: str) -> bool:
        """Ask Jira now (and remember the answer for ``is_admin``)."""
        body = await jira.post_json(
            "/rest/api/3/permissions/check",
            {"accountId": account_id, "globalPermissions": ["ADMINISTER"]},
            retry_safe=True,  # a read, even though it is a POST
        )
        granted = "ADMINISTER" in parse(PermissionsDTO, body, "permissions").global_permissions
        put_bounded(
            self._admins,
            self._admin_key(tenant, account_id),
            (time.monotonic() + ADMIN_TTL_SECONDS, granted),
            max_entries=MAX_ENTRIES,
        )
        return granted

    @staticmethod
    def _admin_key(tenant: Tenant, account_id: str) -> tuple[str, str, str]:
        # The installation is part of the key: a reinstall (a new Connect secret, a new Forge
        # installation id) re-checks at once.
        installation = tenant.installation_id or (tenant.shared_secret_encrypted or "")[-16:]
        return (tenant.id, installation, account_id)


def _desk(value: ServiceDeskDTO) -> ServiceDesk:
    return ServiceDesk(
        id=value.id,
        project_id=value.project_id,
        project_key=value.project_key,
        name=value.project_name,
        portal_id=None,  # the desk listing does not carry it: see with_portal_id
    )
