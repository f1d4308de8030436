"""The floor under a returning login: what the parts alone cost, with no logic of the app's.

``bench/floor_app.py`` does a returning login's I/O (two requests; five statements in three
transactions; one token call) through the same parts as the app: FastAPI on uvicorn (uvloop,
httptools), SQLAlchemy's AsyncSession as ``app.db`` sets it up, and ``app.outbound``'s httpx
client. This script drives it as ``bench/login.py`` drives the app (the same minimal browsers,
16 logins in flight, one worker) and prints the skeleton's CPU per login, with each part taken
out or swapped in turn. With ``--reference-rate`` (the returning logins/s that bench/login.py
measured for Apache + mod_auth_openidc), it also prints the CPU per login that one worker
would need to reach half of it: the target of issue 25.

    BENCH_DATABASE_URL=postgresql+asyncpg://... .venv/bin/python -m bench.floor [--logins 3000] [--rounds 3]

On SQLite (no BENCH_DATABASE_URL) the raw asyncpg variant is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import insert

from bench.browser import Browser
from bench.common import ROOT, database_cpu_seconds, database_url, process_cpu_seconds, serve_here
from bench.floor_app import ISSUER, links, metadata
from tests.support.live_server import free_port, read_body

TARGET_SHARE_OF_REFERENCE = 0.5
SUBJECTS = [f"returning-{n}" for n in range(200)]

# (database layer, outbound client, what the line shows)
VARIANTS = [
    ("sqlalchemy", "httpx", "the app's parts: FastAPI + SQLAlchemy + httpx"),
    ("core", "httpx", "SQLAlchemy Core connections, no ORM session"),
    ("asyncpg", "httpx", "raw asyncpg instead of SQLAlchemy"),
    ("sqlalchemy", "none", "no token call"),
    ("none", "httpx", "no database"),
    ("none", "none", "FastAPI and uvicorn alone"),
]


@dataclass
class Result:
    logins_per_second: float
    app_cpu_ms: float
    database_cpu_ms: float | None
    harness_cpu_ms: float


async def token_endpoint(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A zero-latency IdP token endpoint: the subject comes back as the code's owner."""
    if scope["type"] != "http":
        return
    await read_body(receive)
    body = json.dumps(
        {"access_token": "a" * 40, "token_type": "Bearer", "sub": SUBJECTS[0], "id_token": "x"}
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def prepare(url: str) -> None:
    from app.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)
        await connection.execute(
            insert(links),
            [{"issuer": ISSUER, "subject": s, "account_id": f"acc-{s}"} for s in SUBJECTS],
        )
    await engine.dispose()


async def drop(url: str) -> None:
    from app.db import create_engine

    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
    await engine.dispose()


def start_skeleton(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603 - fixed command
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.floor_app:create",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, error = process.communicate()
            raise RuntimeError(f"skeleton did not start: {error.decode()[-2000:]}")
        time.sleep(0.1)


async def drive(
    origin: str, process: subprocess.Popen[bytes], logins: int, concurrency: int
) -> Result:
    counter = iter(range(logins))

    async def user() -> None:
        browser = Browser(origin)
        try:
            for _ in counter:
                browser.cookies.clear()
                first = await browser.get("/start")
                assert first.status == 303, first.body[:300]
                location = urlsplit(first.headers["location"])
                done = await browser.get(f"{location.path}?{location.query}")
                assert done.status == 303, done.body[:300]
        finally:
            await browser.close()

    before = (process_cpu_seconds(process), time.process_time(), database_cpu_seconds())
    started = time.perf_counter()
    await asyncio.gather(*(user() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    database_after = database_cpu_seconds()
    return Result(
        logins / elapsed,
        (process_cpu_seconds(process) - before[0]) * 1000 / logins,
        None
        if database_after is None or before[2] is None
        else (database_after - before[2]) * 1000 / logins,
        (time.process_time() - before[1]) * 1000 / logins,
    )


async def bench(logins: int, concurrency: int, rounds: int) -> dict[str, list[Result]]:
    """Each variant once per round, the order rotated from round to round: the machine's
    speed drifts over minutes, and this spreads the drift over every variant alike."""
    results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url(Path(tmp))
        await prepare(url)
        variants = [
            variant
            for variant in VARIANTS
            if variant[0] != "asyncpg" or url.startswith("postgresql+asyncpg")
        ]
        try:
            token_port = free_port()
            async with serve_here(token_endpoint, token_port) as token_origin:
                for number in range(rounds):
                    order = variants[number % len(variants) :] + variants[: number % len(variants)]
                    for database, outbound, label in order:
                        port = free_port()
                        env = {
                            "FLOOR_DATABASE": database,
                            "FLOOR_OUTBOUND": outbound,
                            "FLOOR_TOKEN_URL": f"{token_origin}/token",
                            "FLOOR_DATABASE_URL": url,
                        }
                        process = await asyncio.to_thread(start_skeleton, env, port)
                        try:
                            origin = f"http://127.0.0.1:{port}"
                            await drive(origin, process, logins // 5, concurrency)  # warm up
                            result = await drive(origin, process, logins, concurrency)
                            results.setdefault(label, []).append(result)
                        finally:
                            process.terminate()
                            process.wait(timeout=20)
        finally:
            await drop(url)
    return results


def spread(values: list[float], digits: int) -> str:
    return (
        f"{statistics.median(values):.{digits}f} "
        f"[{min(values):.{digits}f}-{max(values):.{digits}f}]"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--logins", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--reference-rate",
        type=float,
        help="Apache + mod_auth_openidc's returning logins/s from bench/login.py, same session",
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    print(
        f"database: {os.environ.get('BENCH_DATABASE_URL', 'sqlite').split(':')[0]}; "
        f"{args.concurrency} logins in flight; 1 worker; {cores} cores"
    )
    results = asyncio.run(bench(args.logins, args.concurrency, args.rounds))
    print(f"median of {args.rounds} rounds [lowest-highest]")
    for label, runs in results.items():
        database = (
            f", PostgreSQL {spread([r.database_cpu_ms or 0.0 for r in runs], 1)} ms"
            if runs[0].database_cpu_ms is not None
            else ""
        )
        print(
            f"{label:46}: {spread([r.logins_per_second for r in runs], 0)} logins/s; "
            f"CPU per login: skeleton {spread([r.app_cpu_ms for r in runs], 2)} ms{database}, "
            f"browsers {spread([r.harness_cpu_ms for r in runs], 2)} ms"
        )
    if args.reference_rate:
        target = TARGET_SHARE_OF_REFERENCE * args.reference_rate
        print(
            f"{TARGET_SHARE_OF_REFERENCE:g} x the reference's {args.reference_rate:g} logins/s on "
            f"one worker (one core): at most {1000 / target:.1f} ms of worker CPU per login"
        )


if __name__ == "__main__":
    main()
