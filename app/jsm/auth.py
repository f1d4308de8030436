"""``httpx.Auth`` that signs the app's own requests to a tenant's Jira with a Connect JWT."""

from __future__ import annotations

import base64
from collections.abc import Generator
from urllib.parse import urlsplit

import httpx

from app.connect.jwt import relative_path, sign_tenant_request


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


class ServiceAccountAuth(httpx.Auth):
    """A service account's email and API token, sent as HTTP Basic (Atlassian's API tokens)."""

    def __init__(self, *, email: str, api_token: str) -> None:
        credentials = base64.b64encode(f"{email}:{api_token}".encode()).decode("ascii")
        self._header = f"Basic {credentials}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request
