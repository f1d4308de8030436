"""Several identical instances share nothing but the database (PostgreSQL, as deployed):
a login started on A finishes on B and its session works on A; a replay on B is refused;
two instances starting together on a fresh database both come up.

Instances are real uvicorn processes; Jira, Atlassian's key CDN and the OP are real loopback
servers (respx cannot reach another process)."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy.engine import make_url

from tests.conftest import ROOT, install_body
from tests.support.connect_tokens import InstallSigner, tenant_token
from tests.support.fake_jira import FakeJira
from tests.support.fake_jira_server import FakeAtlassian
from tests.support.live_server import free_port, serve
from tests.support.openid_provider import OpenIDProvider, sign_in_at_op

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"),
        reason="several instances are a PostgreSQL deployment; .ci/run runs this on PostgreSQL",
    ),
]
VENV_BIN = ROOT / ".venv" / "bin"


def start_instance(port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The container's entrypoint (migrate under the advisory lock, then serve) on ``port``."""
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # noqa: S603 - fixed command
            [str(ROOT / "scripts" / "docker-entrypoint")],
            cwd=ROOT,
            env={
                **env,
                "PORT": str(port),
                "WEB_CONCURRENCY": "1",
                "PATH": f"{VENV_BIN}:/usr/bin:/bin",
            },
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"instance exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"instance not ready: {log.read_text()[-3000:]}")


async def _eventually(
    ask: Callable[[], Awaitable[httpx.Response]], done: Callable[[httpx.Response], bool]
) -> None:
    """Ask until ``done`` holds, for 5 s at most (a NOTIFY crosses processes in milliseconds)."""
    deadline = time.monotonic() + 5
    while not done(answer := await ask()):
        assert time.monotonic() < deadline, answer.text
        await asyncio.sleep(0.05)


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """A brand-new PostgreSQL database, so migrations start from nothing."""
    import asyncpg

    name = f"portal_sso_{secrets.token_hex(4)}"
    url = make_url(database_url)  # the suite's server, whichever driver it is reached with

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False)
        )
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_two_instances_start_together_on_a_fresh_database(
    fresh_database: str, tmp_path: Path
) -> None:
    env = {
        "APP_ENV": "production",
        "APP_BASE_URL": "https://sso.example.test",
        "DATABASE_URL": fresh_database,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PURGE_INTERVAL_SECONDS": "0",
    }
    ports = [free_port(), free_port()]
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    processes = [start_instance(port, env, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, process, log in zip(ports, processes, logs, strict=True):
            wait_ready(f"http://127.0.0.1:{port}", process, log)
    finally:
        stop(processes)


async def test_login_started_on_one_instance_finishes_on_another(
    fresh_database: str, openid_provider: OpenIDProvider, signer: InstallSigner, tmp_path: Path
) -> None:
    fake_port, port_a, port_b = free_port(), free_port(), free_port()
    public = f"http://127.0.0.1:{port_a}"  # the load balancer's URL; B is reached behind it
    client_key, shared_secret = "jira:multi", secrets.token_urlsafe(32)
    jira = FakeJira(
        base_url=f"http://127.0.0.1:{fake_port}",
        app_key="portal-sso-for-jsm",
        client_key=client_key,
        shared_secret=shared_secret,
    )
    jira.add_desk("7", "ITH", "IT Help")
    atlassian = FakeAtlassian(jira, {signer.kid: signer.public_pem})
    env = {
        "APP_ENV": "development",
        "APP_BASE_URL": public,
        "DATABASE_URL": fresh_database,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "CONNECT_INSTALL_KEYS_URL": f"http://127.0.0.1:{fake_port}/keys",
        "ALLOWED_INSTALL_HOSTS": "127.0.0.1",
        "DEV_ALLOW_HTTP_LOOPBACK": "true",
        "PURGE_INTERVAL_SECONDS": "0",
    }
    with serve(atlassian, fake_port, lifespan="off"):
        logs = [tmp_path / "a.log", tmp_path / "b.log"]
        processes = [start_instance(port_a, env, logs[0]), start_instance(port_b, env, logs[1])]
        try:
            await asyncio.to_thread(wait_ready, public, processes[0], logs[0])
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port_b}", processes[1], logs[1])
            async with httpx.AsyncClient(timeout=20) as http:
                token = signer.token(client_key=client_key, aud=public, path="/lifecycle/installed")
                installed = await http.post(
                    f"{public}/lifecycle/installed",
                    json=install_body(client_key, shared_secret, jira.base_url),
                    headers={"Authorization": f"JWT {token}"},
                )
                assert installed.status_code == 204, installed.text
                admin = {
                    "Authorization": f"JWT {tenant_token(client_key=client_key, secret=shared_secret)}"
                }
                idp = (
                    await http.post(
                        f"{public}/api/admin/idps",
                        headers=admin,
                        json={
                            "name": "SSO",
                            "preset": "oidc",
                            "issuer": openid_provider.issuer,
                            "client_id": "pending",
                            "client_secret": "pending",
                        },
                    )
                ).json()
                client = openid_provider.register_client(idp["callback_url"])
                b = f"http://127.0.0.1:{port_b}"
                # B serves the admin reads from its cache: it has this snapshot now ...
                [seen] = (await http.get(f"{b}/api/admin/idps", headers=admin)).json()
                assert seen["client_id"] == "pending"
                await http.put(
                    f"{public}/api/admin/idps/{idp['id']}",
                    headers=admin,
                    json={
                        "client_id": client["client_id"],
                        "client_secret": client["client_secret"],
                    },
                )
                # ... and A's write reaches it by NOTIFY, long before the cache's 60 s TTL.
                await _eventually(
                    lambda: http.get(f"{b}/api/admin/idps", headers=admin),
                    lambda answer: answer.json()[0]["client_id"] == client["client_id"],
                )
                tenant_id = idp["signed_out_url"].split("/portal/")[1].split("/")[0]

            async with httpx.AsyncClient(timeout=20) as browser:
                started = await browser.get(f"{public}/portal/{tenant_id}/7")  # on A
                assert started.status_code == 303, started.text
                back = await sign_in_at_op(started.headers["location"], "ada", app_prefix=public)
                on_b = back.replace(f":{port_a}/", f":{port_b}/")  # the balancer picks B
                finished = await browser.get(on_b)
                assert finished.status_code == 303, finished.text
                portal = await browser.get(f"{public}/portal/{tenant_id}/7")  # A again
                assert portal.status_code == 200
                assert "Ada Lovelace" in portal.text
                back = await browser.get(on_b)  # the Back button: this browser is in
                assert back.status_code == 303
                assert back.headers["location"] == finished.headers["location"]
            async with httpx.AsyncClient(timeout=20) as elsewhere:
                replay = await elsewhere.get(on_b)  # another browser replays the response
                assert replay.status_code == 400
                assert "already been used" in replay.text
            assert [a.email for a in jira.accounts.values()] == ["ada@example.com"]

            # B has the tenant's IdPs and settings cached now (the login finished there):
            # switching the IdP off through A must stop new logins on B at once.
            b = f"http://127.0.0.1:{port_b}"
            async with httpx.AsyncClient(timeout=20) as http:
                assert (await http.get(f"{b}/portal/{tenant_id}/7")).status_code == 303
                switched = await http.put(
                    f"{public}/api/admin/idps/{idp['id']}", headers=admin, json={"enabled": False}
                )
                assert switched.status_code == 200, switched.text
                assert (await http.get(f"{b}/portal/{tenant_id}/7")).status_code == 503

            # B has the tenant cached now; a reinstall through A must retire the old secret on
            # B at once (PostgreSQL NOTIFY, sent in the reinstall's own transaction).
            async with httpx.AsyncClient(timeout=20) as http:
                assert (await http.get(f"{b}/api/admin/presets", headers=admin)).status_code == 200
                new_secret = secrets.token_urlsafe(32)
                token = signer.token(client_key=client_key, aud=public, path="/lifecycle/installed")
                reinstalled = await http.post(
                    f"{public}/lifecycle/installed",
                    json=install_body(client_key, new_secret, jira.base_url),
                    headers={"Authorization": f"JWT {token}"},
                )
                assert reinstalled.status_code == 204
                assert (await http.get(f"{b}/api/admin/presets", headers=admin)).status_code == 401
                jira.shared_secret = new_secret
                fresh = {
                    "Authorization": f"JWT {tenant_token(client_key=client_key, secret=new_secret)}"
                }
                assert (await http.get(f"{b}/api/admin/presets", headers=fresh)).status_code == 200
            assert atlassian.errors == []
        finally:
            stop(processes)
