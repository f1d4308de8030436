"""The app's own calls to a Forge tenant's Jira: the app system token, as a Bearer token, on
the ``apiBaseUrl`` the verified invocation token named (``https://api.atlassian.com/ex/jira/
{cloudId}``), never on the site URL (Atlassian, "Forge remote essentials": calling product
APIs from a remote)."""

from __future__ import annotations

from collections.abc import Generator
from datetime import UTC, datetime, timedelta

import httpx

from app.crypto import SecretBox
from app.errors import JiraUnavailableError
from app.models import Tenant

# A token this close to its expiry is not used: a call retried with backoff may outlive it.
EXPIRY_MARGIN = timedelta(seconds=60)


class AppSystemTokenAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class NoAppTokenError(JiraUnavailableError):
    """The site has no valid app system token: Forge's hourly trigger brings one, so either it
    stopped (the app was uninstalled without telling us) or it has not run since a restart."""


def forge_access(
    tenant: Tenant, *, box: SecretBox, now: datetime | None = None
) -> tuple[str, httpx.Auth]:
    if not tenant.api_base_url:
        raise TypeError(f"tenant {tenant.id} is not a Forge installation")
    expires_at = tenant.app_token_expires_at
    current = now or datetime.now(UTC)
    if (
        tenant.app_token_encrypted is None
        or expires_at is None
        or expires_at - EXPIRY_MARGIN <= current
    ):
        raise NoAppTokenError(
            "Jira has not given Portal SSO a valid token for this site recently; "
            "it arrives with the app's hourly refresh. If the app is still installed, "
            "try again within the hour"
        )
    return tenant.api_base_url, AppSystemTokenAuth(box.decrypt(tenant.app_token_encrypted))


# Forge's scheduled trigger runs hourly: two days without one means it stopped, which is what
# an uninstall that never reached us (or a disabled app) looks like.
SILENT_FOR = timedelta(days=2)


def link_problem(tenant: Tenant, *, now: datetime | None = None) -> str | None:
    """What the admin should know about the app's link to this Forge site, if anything."""
    current = now or datetime.now(UTC)
    received = tenant.last_trigger_at
    if received is not None and current - received > SILENT_FOR:
        return (
            f"Forge has not called Portal SSO since {received:%Y-%m-%d %H:%M} UTC: the hourly "
            "refresh stopped. If the app was uninstalled or disabled, customers cannot sign in; "
            "reinstall it, or ask your operator to check the service."
        )
    expires_at = tenant.app_token_expires_at
    if tenant.app_token_encrypted is None or expires_at is None or expires_at <= current:
        return (
            "Jira has not given Portal SSO a valid token for this site recently, so customers "
            "cannot sign in until it does; it arrives with the app's hourly refresh."
        )
    return None
