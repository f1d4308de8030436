"""Connect-JWT-verified admin API requests per second, side by side with the reference: an
atlassian-connect-express (ACE) 11.5.3 app (bench/ace/app.js) with its default store, both one
process, measured by the same wrk in the same run.

Every request to the service is fully checked: HS256 signature with the tenant's current
secret, iss, exp, context-qsh, tenant installed and enabled, caller a Jira admin (that answer
cached a few minutes). ACE's ``checkValidToken()`` reads the site from its store (one SQLite
read), verifies the signature and expiry (it skips the qsh) and signs a session token.

The headline is what an admin's page does: the reads of ``/api/admin/idps``, ``/settings``
and ``/logins`` with one token reused (the admin iframe's ``AP.context.getToken()`` hands out
the same token until it nears expiry), each against ACE's route. ``/presets``, which reads
nothing, is printed as a floor only, and is also the route of a load with a new token on every
request (every signature verified). Each target gets a 5 s warm-up run first that is not
counted (Node.js compiles its hot paths as it goes; so does the service fill its caches).

After the runs, a reinstall with a new secret must make the old token fail at once. Prints
requests/s, latency percentiles, the ratio to ACE and the worker's memory.

    .venv/bin/python -m bench.jwt [--seconds 10] [--connections 32] [--no-ace]

``BENCH_DATABASE_URL`` runs the service on PostgreSQL; ACE keeps its default store. The first
run installs ACE into bench/ace/node_modules (npm; sqlite3 is compiled with node-gyp against
Debian's Node.js headers, as its prebuilt binary is downloaded from GitHub).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from app.db import create_engine, create_sessionmaker
from app.models import LoginEvent, Tenant
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


ACE_DIR = Path(__file__).resolve().parent / "ace"


def install_ace() -> None:
    """npm install bench/ace once; sqlite3's native module is built here (npm 11 runs no
    install scripts, and its prebuilt binary would come from GitHub, which is not reachable)."""
    binding = ACE_DIR / "node_modules" / "sqlite3" / "build" / "Release" / "node_sqlite3.node"
    if binding.exists():
        return
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ACE_DIR, check=True)  # noqa: S607
    subprocess.run(
        ["npx", "--yes", "node-gyp", "rebuild", "--nodedir=/usr", "-j", "2"],  # noqa: S607
        cwd=ACE_DIR / "node_modules" / "sqlite3",
        check=True,
        capture_output=True,
    )


@contextmanager
def ace_process(port: int, *, client_key: str, secret: str) -> Iterator[str]:
    process = subprocess.Popen(  # noqa: S603
        [str(shutil.which("node")), "app.js"],
        cwd=ACE_DIR,
        env={
            **os.environ,
            "ACE_PORT": str(port),
            "ACE_CLIENT_KEY": client_key,
            "ACE_SHARED_SECRET": secret,
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError("the ACE reference did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def seed_login_activity(url: str, rows: int = 20_000) -> None:
    """A busy site's login activity (the service keeps up to 100,000 rows a site) for
    ``/api/admin/logins`` to read its newest page of."""

    async def seed() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                tenant_id = await session.scalar(select(Tenant.id))
                assert tenant_id is not None
                await session.execute(
                    insert(LoginEvent),
                    [
                        {
                            "tenant_id": tenant_id,
                            "idp_name": "Provider 0",
                            "outcome": "success",
                            "email": f"customer-{n}@example.com",
                            "subject": f"subject-{n}",
                            "account_id": f"557058:customer-{n}",
                        }
                        for n in range(rows)
                    ],
                )
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(seed())


def rate(output: str) -> float:
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-ace", action="store_true", help="skip the ACE reference")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk (Debian package wrk): apt-get install wrk")
    ace_rate: float | None = None
    if not args.no_ace:
        install_ace()

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
            seed_login_activity(url)
            reused = (f"Authorization: JWT {token}",)
            warm = argparse.Namespace(seconds=5, connections=args.connections)
            if not args.no_ace:
                # The reference first, on the same token text (its own store, same secret).
                with ace_process(free_port(), client_key=client_key, secret=secret) as ace:
                    ace_route = f"{ace}/api/admin/idps"
                    assert httpx.get(ace_route, headers=headers).status_code == 200
                    run_wrk(ace_route, warm, headers=reused)
                    ace_output = run_wrk(ace_route, args, headers=reused)
                    ace_rate = rate(ace_output)
            run_wrk(f"{app}/api/admin/idps", warm, headers=reused)
            routes = ("/api/admin/idps", "/api/admin/settings", "/api/admin/logins")
            only = os.environ.get("BENCH_ONLY")
            loads = {
                route: run_wrk(f"{app}{route}", args, headers=reused)
                for route in routes
                if not only or route == only
            }
            loads["/api/admin/presets (floor)"] = run_wrk(
                f"{app}/api/admin/presets", args, headers=reused
            )
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
        f"database: {url.split(':')[0]}; 1 worker; wrk 1 thread, {args.connections} connections, "
        f"{args.seconds}s after a 5 s warm-up"
    )
    runs = [(f"GET {route}, one token", output) for route, output in loads.items()]
    runs.append(("presets, a new token every request", distinct))
    if ace_rate is not None:
        runs.insert(0, ("ACE 11.5.3 checkValidToken() route", ace_output))
    for label, output in runs:
        latency = dict(re.findall(r"^\s+(50|90|99)%\s+(\S+)", output, re.MULTILINE))
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
        ratio = f"{rate(output) / ace_rate:5.2f}x ACE" if ace_rate else ""
        print(
            f"{label:48}: {rate(output):9.1f} verified requests/s {ratio:>10}  "
            f"p50 {latency.get('50')}  p90 {latency.get('90')}  p99 {latency.get('99')}  "
            f"non-2xx {errors.group(1) if errors else 0}"
        )
    print(f"worker RSS: {', '.join(f'{m:.0f} MB' for m in rss)}")
    print(
        f"after reinstall: old-secret token -> {stale} (want 401), new-secret token -> {current} (want 200)"
    )


if __name__ == "__main__":
    main()
