"""Connect-JWT-verified admin API requests per second on one worker process.

Every request is fully checked: HS256 signature with the tenant's current secret, iss, exp,
context-qsh, tenant installed and enabled, caller a Jira admin (that answer cached a few
minutes). Two loads, because the admin iframe reuses one token (``AP.context.getToken()``
hands out the same token until it nears expiry) while other callers may not:

* one token on every request: its signature is verified once, then remembered by its exact
  text and the tenant secret it was verified with; expiry and status are checked every time;
* a different token on every request: every signature is verified.

The headline is what an admin's page does: ``GET /api/admin/idps`` and
``GET /api/admin/settings``, which read the database, with one token reused. ``/presets``,
which reads nothing, is printed as a floor only, and is also the route of the distinct-token
load (the signature's cost, apart from the database's).

After the runs, a reinstall with a new secret must make the old token fail at once. Prints
requests/s, latency percentiles and the worker's memory.

    .venv/bin/python -m bench.jwt [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import (
    app_processes,
    base_env,
    database_url,
    install,
    migrate,
    new_secret,
    worker_rss_mb,
)
from tests.support.connect_tokens import InstallSigner, tenant_token
from tests.support.fake_jira import FakeJira
from tests.support.fake_jira_server import FakeAtlassian
from tests.support.live_server import free_port, serve

ROTATING_TOKENS = """
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local next_token = 0
request = function()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", nil, {["Authorization"] = "JWT " .. tokens[next_token]})
end
"""


def run_wrk(
    url: str,
    args: argparse.Namespace,
    *,
    headers: tuple[str, ...] = (),
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> str:
    command = [str(shutil.which("wrk")), "-t1", f"-c{args.connections}", f"-d{args.seconds}s"]
    command += ["--latency"]
    for header in headers:
        command += ["-H", header]
    if script is not None:
        command += ["-s", str(script)]
    result = subprocess.run(  # noqa: S603
        [*command, url],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (Debian package wrk): apt-get install wrk")

    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(Path(tmp))
        migrate(url)
        port, fake_port = free_port(), free_port()
        signer, client_key, secret = InstallSigner(), "jira:bench", new_secret()
        jira = FakeJira(
            base_url=f"http://127.0.0.1:{fake_port}",
            app_key="portal-sso-for-jsm",
            client_key=client_key,
            shared_secret=secret,
        )
        with (
            serve(FakeAtlassian(jira, {signer.kid: signer.public_pem}), fake_port, lifespan="off"),
            app_processes(base_env(url, port=port, fake_port=fake_port), workers=1, port=port) as (
                app,
                process,
            ),
        ):
            install(app, signer, client_key=client_key, secret=secret, jira_url=jira.base_url)
            token = tenant_token(client_key=client_key, secret=secret, exp=int(time.time()) + 3600)
            headers = {"Authorization": f"JWT {token}"}
            assert httpx.get(f"{app}/api/admin/settings", headers=headers).status_code == 200
            # A site as admins have it: three providers to list.
            for n in range(3):
                created = httpx.post(
                    f"{app}/api/admin/idps",
                    headers=headers,
                    json={
                        "name": f"Provider {n}",
                        "preset": "oauth2",
                        "authorization_endpoint": "https://idp.example.test/authorize",
                        "token_endpoint": "https://idp.example.test/token",
                        "userinfo_endpoint": "https://idp.example.test/userinfo",
                        "client_id": f"client-{n}",
                        "client_secret": "secret",
                    },
                )
                assert created.status_code == 201, created.text
            reused = (f"Authorization: JWT {token}",)
            loads = {
                "GET /api/admin/idps": run_wrk(f"{app}/api/admin/idps", args, headers=reused),
                "GET /api/admin/settings": run_wrk(
                    f"{app}/api/admin/settings", args, headers=reused
                ),
                "GET /api/admin/presets (floor)": run_wrk(
                    f"{app}/api/admin/presets", args, headers=reused
                ),
            }
            target = f"{app}/api/admin/presets"
            fresh_tokens = Path(tmp) / "tokens.txt"
            expiry = int(time.time()) + 3600
            # More distinct tokens than the run can send, so no token is ever seen twice.
            fresh_tokens.write_text(
                "\n".join(
                    tenant_token(client_key=client_key, secret=secret, exp=expiry, jti=str(n))
                    for n in range(args.seconds * 8000)
                )
            )
            script = Path(tmp) / "tokens.lua"
            script.write_text(ROTATING_TOKENS)
            distinct = run_wrk(target, args, script=script, env={"BENCH_TOKENS": str(fresh_tokens)})
            rss = worker_rss_mb(process)
            # Correctness under the same set-up: a reinstall's new secret applies at once.
            new = new_secret()
            install(app, signer, client_key=client_key, secret=new, jira_url=jira.base_url)
            stale = httpx.get(f"{app}/api/admin/settings", headers=headers).status_code
            jira.shared_secret = new
            fresh = tenant_token(client_key=client_key, secret=new, exp=int(time.time()) + 3600)
            current = httpx.get(
                f"{app}/api/admin/settings", headers={"Authorization": f"JWT {fresh}"}
            ).status_code

    print(
        f"database: {url.split(':')[0]}; 1 worker; wrk 1 thread, {args.connections} connections, {args.seconds}s"
    )
    runs = [(f"{route}, one token", output) for route, output in loads.items()]
    runs.append(("presets, a new token every request", distinct))
    for label, output in runs:
        rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
        latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        print(
            f"{label:44}: {rate.group(1) if rate else '?':>9} verified admin API requests/s  "
            f"p50 {latency.get('50')}  p90 {latency.get('90')}  p99 {latency.get('99')}  "
            f"non-2xx {errors.group(1) if errors else 0}"
        )
    print(f"worker RSS: {', '.join(f'{m:.0f} MB' for m in rss)}")
    print(
        f"after reinstall: old-secret token -> {stale} (want 401), new-secret token -> {current} (want 200)"
    )


if __name__ == "__main__":
    main()
