"""Starts the real OpenID Provider (npm `oidc-provider`, tests/oidc_provider/server.mjs) on a
free loopback port for the duration of the test session."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "oidc_provider"


@dataclass(frozen=True)
class OpenIDProvider:
    issuer: str

    def register_client(self, redirect_uri: str, **metadata: Any) -> dict[str, Any]:
        """RFC 7591 dynamic registration, as an admin would register an app client."""
        body = {
            "redirect_uris": [redirect_uri],
            "token_endpoint_auth_method": "client_secret_basic",
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
            **metadata,
        }
        response = httpx.post(f"{self.issuer}/reg", json=body, timeout=10)
        response.raise_for_status()
        client: dict[str, Any] = response.json()
        return client


def start_openid_provider(*, cognito_style: bool = False) -> Iterator[OpenIDProvider]:
    node = shutil.which("node")
    if node is None or not (FIXTURE_DIR / "node_modules" / "oidc-provider").exists():
        raise RuntimeError(
            "the oidc-provider fixture is not installed: run `make test` (it runs npm ci in "
            "tests/oidc_provider)"
        )
    # The issuer names its port, so the port is chosen before the OP starts.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(  # noqa: S603 - fixed command, no shell
        [node, "server.mjs"],
        cwd=FIXTURE_DIR,
        env={
            "OP_PORT": str(port),
            "COGNITO_STYLE": "1" if cognito_style else "0",
            "PATH": "/usr/bin:/usr/local/bin:/bin",
            "NODE_ENV": "test",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    issuer: str | None = None
    seen: list[str] = []
    timer = threading.Timer(20, process.kill)
    timer.start()
    for line in process.stdout:
        seen.append(line)
        match = re.match(r"READY (http://127\.0\.0\.1:\d+)", line)
        if match:
            issuer = match.group(1)
            break
    timer.cancel()
    if issuer is None:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        raise RuntimeError("oidc-provider did not start:\n" + "".join(seen))
    # Keep draining its output so the pipe never fills up.
    drain = threading.Thread(target=lambda: [None for _ in process.stdout or []], daemon=True)
    drain.start()
    try:
        yield OpenIDProvider(issuer=issuer)
    finally:
        process.terminate()
        process.wait(timeout=10)
        drain.join(timeout=5)
        process.stdout.close()


async def sign_in_at_op(location: str, login: str, *, app_prefix: str) -> str:
    """Be the browser at the OP: follow to its login form, post it, and return the URL the OP
    sends the browser back to (anything starting with ``app_prefix``)."""
    async with httpx.AsyncClient(timeout=10) as browser:
        response = await browser.get(location)
        while response.status_code in (302, 303):
            target = str(httpx.URL(str(response.url)).join(response.headers["location"]))
            if target.startswith(app_prefix):
                return target
            response = await browser.get(target)
        assert response.status_code == 200, response.text
        action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
        assert action is not None, response.text
        response = await browser.post(
            action.group(1), data={"prompt": "login", "login": login, "password": "any"}
        )
        while response.status_code in (302, 303):
            target = str(httpx.URL(str(response.url)).join(response.headers["location"]))
            if target.startswith(app_prefix):
                return target
            response = await browser.get(target)
        raise AssertionError(
            f"the OP did not redirect back: {response.status_code} {response.text[:500]}"
        )
