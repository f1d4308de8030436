"""How a request reaches a tenant's Jira: where, and with which ``httpx.Auth``.

Each platform brings its own auth for the app's calls (``app.connect.auth``: a Connect JWT on
the site URL; ``app.forge.auth``: the app system token on ``api.atlassian.com``); the
composition root hands ``JiraDirectory`` a function that picks one per tenant, so nothing in
``jsm`` knows which platform a tenant came from. A service account's API token works on
either."""

from __future__ import annotations

import base64
from collections.abc import Callable, Generator
from typing import NamedTuple

import httpx

from app.models import Tenant


class JiraAccess(NamedTuple):
    """Where a tenant's Jira answers (``base_url``, without a trailing slash) and how the
    request authenticates."""

    base_url: str
    auth: httpx.Auth


AppAccess = Callable[[Tenant], JiraAccess]
"""The app's own access to a tenant's Jira, per platform; raises ``JiraUnavailableError``
when the platform has no valid credential for it (a Forge site whose token expired)."""


class ServiceAccountAuth(httpx.Auth):
    """A service account's email and API token, sent as HTTP Basic (Atlassian's API tokens)."""

    def __init__(self, *, email: str, api_token: str) -> None:
        credentials = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
        self._header = f"Basic {credentials}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request
