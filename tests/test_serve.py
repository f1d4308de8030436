"""The container's server (scripts/docker-entrypoint → app.cli.serve): connections opened at once
spread over the workers; a worker that dies is replaced; SIGTERM stops everything; a port in
use and a bad setting stop it with a reason instead of a restart loop.

Which worker holds a connection is read from /proc (Linux, as in the container and in CI)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.conftest import ROOT
from tests.support.live_server import free_port

VENV_BIN = ROOT / ".venv" / "bin"
ESTABLISHED, LISTENING = "01", "0A"


def entrypoint(tmp_path: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    settings = {
        "APP_ENV": "production",
        "APP_BASE_URL": "https://sso.example.test",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        "ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PURGE_INTERVAL_SECONDS": "0",
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "PATH": f"{VENV_BIN}:/usr/bin:/bin",
        **env,
    }
    with (tmp_path / "serve.log").open("ab") as log:
        return subprocess.Popen(  # noqa: S603 - fixed command
            [str(ROOT / "scripts" / "docker-entrypoint")],
            cwd=ROOT,
            env=settings,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def workers_of(supervisor: subprocess.Popen[bytes]) -> list[int]:
    """The worker processes (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    return [pid for pid in pids if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def sockets_by_process(pids: list[int], port: int, state: str) -> dict[int, int]:
    """How many TCP sockets on ``port`` in ``state`` each process holds."""
    owner: dict[str, int] = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue  # closed while we looked
            if target.startswith("socket:["):
                owner[target.removeprefix("socket:[").removesuffix("]")] = pid
    counts = dict.fromkeys(pids, 0)
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in owner:
                counts[owner[fields[9]]] += 1
    return counts


def wait_for(condition: object, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError(f"{what}: {log.read_text()[-3000:]}")


def serving(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = free_port()
    supervisor = entrypoint(tmp_path, port)
    log = tmp_path / "serve.log"

    def both_listening() -> bool:
        workers = workers_of(supervisor)
        listening = sockets_by_process(workers, port, LISTENING)
        return len(workers) == 2 and all(listening.values()) and serving(port)

    try:
        wait_for(both_listening, "two workers did not come up", log)
        yield supervisor, port
    finally:
        supervisor.terminate()
        try:
            supervisor.wait(timeout=30)
        except subprocess.TimeoutExpired:
            supervisor.kill()


async def open_keep_alive_connections(port: int, count: int) -> list[asyncio.StreamWriter]:
    async def one() -> asyncio.StreamWriter:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: sso.example.test\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        return writer

    return await asyncio.gather(*(one() for _ in range(count)))


async def test_connections_opened_at_once_spread_over_the_workers(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    # With one shared listening socket, whichever worker woke first took all of them.
    supervisor, port = two_workers
    workers = workers_of(supervisor)
    assert sockets_by_process(workers, port, LISTENING) == dict.fromkeys(workers, 1)
    writers = await open_keep_alive_connections(port, 32)
    try:
        held = sockets_by_process(workers, port, ESTABLISHED)
        assert sum(held.values()) == 32
        # Spread by a hash of the client port: fewer than 4 of 32 on either worker happens
        # about once in 400,000 runs.
        assert min(held.values()) >= 4, held
    finally:
        for writer in writers:
            writer.close()


def test_a_worker_that_dies_is_replaced(
    two_workers: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    supervisor, port = two_workers
    victim, survivor = workers_of(supervisor)
    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        workers = workers_of(supervisor)
        return (
            len(workers) == 2
            and victim not in workers
            and survivor in workers
            and all(sockets_by_process(workers, port, LISTENING).values())
        )

    wait_for(replaced, "the dead worker was not replaced", tmp_path / "serve.log")
    assert serving(port)
    assert "ended (exit code -9); replacing it" in (tmp_path / "serve.log").read_text()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_stops_the_workers_and_the_supervisor(
    two_workers: tuple[subprocess.Popen[bytes], int], stop: signal.Signals
) -> None:
    supervisor, port = two_workers
    workers = workers_of(supervisor)
    supervisor.send_signal(stop)
    assert supervisor.wait(timeout=30) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    assert not serving(port)


def test_workers_stop_when_the_supervisor_is_killed(
    two_workers: tuple[subprocess.Popen[bytes], int], tmp_path: Path
) -> None:
    # Orphans would go on serving on the port, and the next start would find it taken.
    supervisor, port = two_workers
    workers = workers_of(supervisor)
    supervisor.kill()
    supervisor.wait(timeout=10)

    def all_gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in workers)

    wait_for(all_gone, "orphaned workers still running", tmp_path / "serve.log", timeout=30)
    assert not serving(port)


def test_a_port_in_use_is_refused_not_shared(tmp_path: Path) -> None:
    # SO_REUSEPORT would let a second copy of the service share the port without a word.
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104 - where the entrypoint listens
        taken.listen()
        port = taken.getsockname()[1]
        supervisor = entrypoint(tmp_path, port)
        try:
            assert supervisor.wait(timeout=60) == 3
        finally:
            supervisor.kill()
    log = (tmp_path / "serve.log").read_text()
    assert f"cannot listen on 0.0.0.0:{port}: Address already in use" in log
    assert "started worker" not in log


def test_a_bad_setting_stops_the_service_instead_of_restarting_workers(tmp_path: Path) -> None:
    supervisor = entrypoint(tmp_path, free_port(), ENCRYPTION_KEYS="not-a-fernet-key")
    try:
        assert supervisor.wait(timeout=60) == 3
    finally:
        supervisor.kill()
    log = (tmp_path / "serve.log").read_text()
    assert "cannot start, invalid configuration: ENCRYPTION_KEYS entries must be" in log
    assert "could not start; stopping" in log
    assert "replacing it" not in log
    assert "Traceback" not in log  # the operator fixes a variable, not our code


def test_one_worker_with_a_bad_setting_says_why_in_one_line(tmp_path: Path) -> None:
    # app.cli.serve itself: the entrypoint's migration would refuse this URL first.
    server = subprocess.run(  # noqa: S603 - fixed command
        [
            str(VENV_BIN / "python"),
            "-m",
            "app.cli.serve",
            "--workers",
            "1",
            "--port",
            str(free_port()),
        ],
        cwd=ROOT,
        env={"APP_ENV": "development", "DATABASE_URL": "mysql://u:hunter2@db/sso"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert server.returncode == 3
    log = server.stderr + server.stdout
    assert "cannot start, invalid configuration: DATABASE_URL: 'mysql' is not supported" in log
    assert "Traceback" not in log
    assert "hunter2" not in log


def figure(exposition: bytes, sample: bytes) -> float:
    line = next(line for line in exposition.splitlines() if line.startswith(sample + b" "))
    return float(line.rsplit(b" ", 1)[1])


async def get_on(
    connections: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]], path: str
) -> list[bytes]:
    """GET ``path`` once on every keep-alive connection; the bodies."""

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: sso.example.test\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return await reader.readexactly(length)

    return await asyncio.gather(*(one(reader, writer) for reader, writer in connections))


async def test_metrics_add_up_over_the_workers(
    two_workers: tuple[subprocess.Popen[bytes], int],
) -> None:
    # Before, each scrape showed the figures of whichever worker answered it.
    supervisor, port = two_workers
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(32)]
    try:
        held = sockets_by_process(workers_of(supervisor), port, ESTABLISHED)
        assert min(held.values()) >= 4, held  # both workers answer below
        # Each looks a site up (SQLite: no cross-process cache, so every lookup misses).
        await get_on(connections, "/portal/no-such-site/7")
        tenant_misses = b'portal_sso_oidc_metadata_cache{result="tenant_miss"}'
        deadline = time.monotonic() + 30
        while True:
            scrapes = await get_on(connections, "/metrics")
            seen = {figure(scrape, tenant_misses) for scrape in scrapes}
            if seen == {32.0} or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # a worker publishes its cache figures every 5 s
        assert seen == {32.0}
    finally:
        for _, writer in connections:
            writer.close()


def test_an_unknown_log_level_is_refused_with_the_choices(tmp_path: Path) -> None:
    supervisor = entrypoint(tmp_path, free_port(), LOG_LEVEL="verbose")
    try:
        assert supervisor.wait(timeout=60) == 2
    finally:
        supervisor.kill()
    log = (tmp_path / "serve.log").read_text()
    assert "--log-level: invalid choice: 'VERBOSE'" in log
    assert "Traceback" not in log
