"""Shared set-up for the benchmarks: a migrated database, the app in uvicorn worker processes,
and the fakes (Jira, install keys, an OpenID Provider) served over loopback by this process."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402

from tests.conftest import alembic_config  # noqa: E402
from tests.support.hostile_op import HostileOP  # noqa: E402


def database_url(tmp: Path) -> str:
    return os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"


def migrate(url: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), "base")
    command.upgrade(alembic_config(url), "head")


@contextmanager
def app_processes(
    env: dict[str, str], *, workers: int, port: int
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    # As the container serves: app.cli.serve gives each worker its own listening socket.
    command = [
        str(ROOT / ".venv" / "bin" / "python"),
        "-m",
        "app.cli.serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    process = subprocess.Popen(  # noqa: S603 - fixed command
        command,
        cwd=ROOT,
        # The production log level (INFO): every request writes its JSON line, to /dev/null.
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("app did not start")
        time.sleep(0.1)
    try:
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=20)


@asynccontextmanager
async def serve_here(app: object, port: int) -> AsyncIterator[str]:
    """Serve a fake on the caller's event loop (no thread: the harness's browsers and fakes
    then never wait for each other's turn at the GIL)."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def _workers(parent: subprocess.Popen[bytes]) -> list[int]:
    """The pids of uvicorn's worker processes (none when it serves in-process); not
    multiprocessing's resource tracker, a child too, which serves no request."""
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    if not children.exists():
        return []
    return [
        int(pid)
        for pid in children.read_text().split()
        if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]


def worker_rss_mb(parent: subprocess.Popen[bytes]) -> list[float]:
    """Resident memory of the uvicorn process(es) serving requests (workers, or the single one)."""
    sizes = []
    for pid in _workers(parent) or [parent.pid]:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(int(line.split()[1]) / 1024)
    return sizes


def _cpu_seconds(pid: int, *, with_ended_children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    if with_ended_children:
        ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(parent: subprocess.Popen[bytes]) -> float:
    """User + system CPU time of the uvicorn process and its workers so far."""
    return sum(_cpu_seconds(pid) for pid in [parent.pid, *_workers(parent)])


def database_cpu_seconds() -> float | None:
    """CPU time so far of the PostgreSQL server's processes on this machine (its backends,
    WAL writer, checkpointer...), or None when the benchmark runs on SQLite, whose work is
    inside the app's own processes. Assumes the benchmark's server is the only one here.
    Backends that ended in between count through the postmaster's children's times."""
    if not os.environ.get("BENCH_DATABASE_URL", "").startswith("postgresql"):
        return None
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.read_text().split(" (", 1)[1].startswith("postgres)"):
                total += _cpu_seconds(int(stat.parent.name), with_ended_children=True)
        except (OSError, IndexError):
            continue  # the process ended while we looked
    return total


def sign_in_at_op(op: HostileOP, subject: str, authorize_url: str) -> str:
    """The fake IdP's authorize step for ``subject``: the callback's path and query."""
    op.subject = subject
    op.user_claims = {"email": f"{subject}@example.com", "email_verified": True, "name": subject}
    back = urlsplit(op.authorize(authorize_url))
    return f"{back.path}?{back.query}"


def base_env(url: str, *, port: int, fake_port: int) -> dict[str, str]:
    return {
        "APP_ENV": "development",
        "APP_BASE_URL": f"http://127.0.0.1:{port}",
        "CONNECT_INSTALL_KEYS_URL": f"http://127.0.0.1:{fake_port}/keys",
        "DATABASE_URL": url,
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DEV_ALLOW_HTTP_LOOPBACK": "true",
        "ALLOWED_INSTALL_HOSTS": "127.0.0.1",
        "PURGE_INTERVAL_SECONDS": "0",
        # The benchmark is the only client: lift the per-IP login-start limit.
        "LOGIN_STARTS_PER_IP_PER_MINUTE": "0",
        "LOGIN_STARTS_PER_IP_CEILING_PER_MINUTE": "0",
        "LOGIN_STARTS_PER_TENANT_PER_MINUTE": "0",
    }


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def install(app_url: str, signer: object, *, client_key: str, secret: str, jira_url: str) -> None:
    from tests.conftest import install_body

    token = signer.token(client_key=client_key, aud=app_url, path="/lifecycle/installed")  # type: ignore[attr-defined]
    response = httpx.post(
        f"{app_url}/lifecycle/installed",
        json=install_body(client_key, secret, jira_url),
        headers={"Authorization": f"JWT {token}"},
        timeout=10,
    )
    response.raise_for_status()
