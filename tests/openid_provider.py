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

FIXTURE_DIR = Path(__file__).resolve().parent / "oidc_provider"


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
