"""The hostile OP (well behaved here) as a loopback HTTP server, for app worker processes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.hostile_op import HostileOP
from tests.support.live_server import read_body, send_response


class OPServer:
    def __init__(self, op: HostileOP) -> None:
        self.op = op
        base = op.issuer
        self.routes = {
            ("GET", "/.well-known/openid-configuration"): op._discovery,
            ("GET", op.jwks_path): op._jwks,
            ("POST", op.token_endpoint.removeprefix(base)): op._token,
            ("GET", op.userinfo_endpoint.removeprefix(base)): op._userinfo,
        }

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        handler = self.routes.get((scope["method"], scope["path"]))
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        request = httpx.Request(
            scope["method"], f"{self.op.issuer}{scope['path']}", headers=headers, content=body
        )
        await send_response(send, handler(request) if handler else httpx.Response(404))
