"""``httpx.Auth`` that signs the app's own requests to a Connect tenant's Jira."""

from __future__ import annotations

from collections.abc import Generator
from urllib.parse import urlsplit

import httpx

from app.connect.jwt import relative_path, sign_tenant_request
from app.crypto import SecretBox
from app.models import Tenant


class ConnectJWTAuth(httpx.Auth):
    """Sign each request as the app: ``iss`` = app key, ``aud`` = [clientKey], 3 minutes.

    The qsh covers the path relative to the tenant's baseUrl (which may carry a context path
    such as ``/jira`` or a proxy prefix), as Atlassian's canonical request defines it.
    """

    def __init__(self, *, app_key: str, client_key: str, shared_secret: str, base_url: str) -> None:
        self._app_key = app_key
        self._client_key = client_key
        self._shared_secret = shared_secret
        self._base_path = urlsplit(base_url).path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raw_path = request.url.raw_path.decode("ascii")
        path, _, query = raw_path.partition("?")
        token = sign_tenant_request(
            app_key=self._app_key,
            client_key=self._client_key,
            shared_secret=self._shared_secret,
            method=request.method,
            path=relative_path(path, self._base_path),
            query=query,
        )
        request.headers["Authorization"] = f"JWT {token}"
        yield request


def connect_access(tenant: Tenant, *, box: SecretBox, app_key: str) -> tuple[str, httpx.Auth]:
    """The app's access to a Connect tenant: its site URL, signed with its shared secret."""
    if tenant.client_key is None or tenant.shared_secret_encrypted is None:
        raise TypeError(f"tenant {tenant.id} is not a Connect installation")
    auth = ConnectJWTAuth(
        app_key=app_key,
        client_key=tenant.client_key,
        shared_secret=box.decrypt(tenant.shared_secret_encrypted),
        base_url=tenant.base_url,
    )
    return tenant.base_url.rstrip("/"), auth
