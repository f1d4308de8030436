"""Connect-JWT-verified admin API requests per second on one worker process.

Every request is fully verified (HS256 signature with the tenant's secret read from the
database on each request, iss, exp, context-qsh, tenant active) and checked for Jira admin
(cached a few minutes). After the run, a reinstall with a new secret must make the old token
fail at once. Prints requests/s, latency percentiles and the worker's memory.

    .venv/bin/python bench/jwt.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
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
from tests.connect_tokens import InstallSigner, tenant_token
from tests.jsm.fake_jira import FakeJira
from tests.jsm.fake_jira_server import FakeAtlassian
from tests.live_server import free_port, serve


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
            result = subprocess.run(  # noqa: S603
                [
                    str(shutil.which("wrk")),
                    "-t1",
                    f"-c{args.connections}",
                    f"-d{args.seconds}s",
                    "--latency",
                    "-H",
                    f"Authorization: JWT {token}",
                    f"{app}/api/admin/presets",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            rss = worker_rss_mb(process)
            rate = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
            latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", result.stdout, re.MULTILINE))
            errors = re.search(r"Non-2xx or 3xx responses: (\d+)", result.stdout)

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
    print(f"verified admin API requests/s: {rate.group(1) if rate else '?'}")
    print(f"latency p50 {latency.get('50')}  p90 {latency.get('90')}  p99 {latency.get('99')}")
    print(f"non-2xx responses: {errors.group(1) if errors else 0}")
    print(f"worker RSS: {', '.join(f'{m:.0f} MB' for m in rss)}")
    print(
        f"after reinstall: old-secret token -> {stale} (want 401), new-secret token -> {current} (want 200)"
    )


if __name__ == "__main__":
    main()
