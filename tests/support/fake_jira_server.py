"""The fake Jira (and Atlassian's install-key CDN) over real loopback HTTP, for app instances
running in other processes, where respx cannot reach."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.fake_jira import FakeJira
from tests.support.live_server import read_body, send_response


class FakeAtlassian:
    """ASGI app: ``/keys/{kid}`` serves install-signing keys; everything else is the FakeJira
    (its spec and JWT checks included). Check failures are kept in ``errors``."""

    def __init__(self, jira: FakeJira, keys: dict[str, bytes]) -> None:
        self.jira = jira
        self.keys = keys
        self.errors: list[str] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path: str = scope["path"]
        if path.startswith("/keys/"):
            key = self.keys.get(path.removeprefix("/keys/"))
            await send_response(
                send, httpx.Response(200, content=key) if key else httpx.Response(404)
            )
            return
        query = scope.get("query_string", b"").decode()
        url = f"{self.jira.base_url}{scope.get('raw_path', path.encode()).decode()}" + (
            f"?{query}" if query else ""
        )
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        request = httpx.Request(scope["method"], url, headers=headers, content=body)
        try:
            response = self.jira._handle(request)
        except AssertionError as e:
            self.errors.append(str(e))
            response = httpx.Response(500, json={"errorMessage": "fake Jira check failed"})
        await send_response(send, response)
