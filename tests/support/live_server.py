"""The app served by a real uvicorn on loopback, in a thread of the test process, so that a
real browser can use it while respx still fakes Jira for it (respx patches httpx process-wide).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from app.config import Settings
from app.main import create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(settings: Settings, port: int) -> Iterator[str]:
    with serve(create_app(settings), port) as url:
        yield url


@contextmanager
def serve(app: Any, port: int, *, lifespan: str = "on") -> Iterator[str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


async def read_body(receive: Any) -> bytes:
    """The whole body of an ASGI request (for fakes that hand it to an httpx-style handler)."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def send_response(send: Any, response: httpx.Response) -> None:
    """Send an ``httpx.Response`` a fake's handler built as the ASGI response."""
    content = response.content
    headers = [
        (k.encode(), v.encode())
        for k, v in response.headers.items()
        if k.lower() != "content-length"
    ]
    headers.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": content})
