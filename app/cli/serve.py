"""Serve the app in several worker processes, each on its own listening socket.

    python -m app.cli.serve --host 0.0.0.0 --port 8000 --workers 2

uvicorn's ``--workers`` gives every worker the same listening socket, and a worker that wakes
accepts every connection waiting. The keep-alive connections that a load balancer (or a burst
of browsers) opens at once can therefore all land on one worker while the others idle, for as
long as those connections live: ``bench/login.py`` saw 2 workers split 16 connections 16:0 and
serve no more than 1 worker did. Here each worker binds its own socket with ``SO_REUSEPORT``
and the kernel spreads new connections across them by a hash of the client's address and port,
as nginx's ``reuseport`` does.

The workers' Prometheus metrics are kept in files that /metrics on any of them adds up, so a
scrape sees the instance's figures whichever worker it reaches, not one worker's.

The supervisor restarts a worker that dies, stops everything when a worker cannot start (a
bad setting would fail the same way on every restart), and on SIGTERM, SIGINT or SIGHUP lets
the workers finish their requests. Workers end with the supervisor, however it ends. One
worker runs in this process, without a supervisor.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn
from prometheus_client.multiprocess import mark_process_dead
from uvicorn.config import STARTUP_FAILURE

from app.cli.commands import run_command
from app.observability import configure_logging

logger = logging.getLogger("app.cli.serve")

PR_SET_PDEATHSIG = 1  # prctl(2)

# How long a stopping worker may take to finish its requests before it is killed.
SHUTDOWN_SECONDS = 25.0


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m app.cli.serve", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-For and X-Forwarded-Proto are trusted",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        type=str.upper,
        choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
    )
    arguments = parser.parse_args(argv)
    if arguments.workers < 1:
        parser.error("--workers must be at least 1")
    return arguments


def server_config(arguments: argparse.Namespace) -> uvicorn.Config:
    return uvicorn.Config(
        "app.main:production_app",
        factory=True,
        host=arguments.host,
        port=arguments.port,
        proxy_headers=True,
        forwarded_allow_ips=arguments.forwarded_allow_ips,
        # Our request log replaces uvicorn's access log (it repeats the query string), and
        # configure_logging() sets up every logger, uvicorn's included, as JSON.
        access_log=False,
        log_config=None,
    )


def listening_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def cannot_listen(host: str, port: int) -> OSError | None:
    """Why this process cannot listen on ``host:port``, if it cannot. SO_REUSEPORT lets a
    second copy of this service (same user) share the port silently; a plain bind first makes
    "address already in use" an error again, as with one worker."""
    try:
        listening_socket(host, port, reuse_port=False).close()
    except OSError as error:
        return error
    return None


def stop_with_supervisor(supervisor_pid: int) -> None:
    """Have the kernel send this worker SIGTERM when the supervisor ends, however it ends
    (SIGKILL, the OOM killer): an orphaned worker would go on serving on the port, and the
    next start would find it taken. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        logger.warning("cannot ask to stop with the supervisor: errno %s", ctypes.get_errno())
    if os.getppid() != supervisor_pid:  # it ended before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def load_app(config: uvicorn.Config) -> bool:
    """Build the app, which reads the settings: a bad one fails here, and would fail the same
    way after every restart. Any error at all: this is the process's boundary."""

    def load() -> int:
        config.load()
        return 0

    try:
        return run_command(load, doing="start") == 0
    except Exception:
        logger.exception("cannot start")
        return False


def serve_worker(arguments: argparse.Namespace, supervisor_pid: int) -> None:
    """One worker process: its own socket, then uvicorn (which handles SIGTERM gracefully)."""
    stop_with_supervisor(supervisor_pid)
    configure_logging(arguments.log_level)
    config = server_config(arguments)
    if not load_app(config):
        sys.exit(STARTUP_FAILURE)
    try:
        sock = listening_socket(arguments.host, arguments.port, reuse_port=True)
    except OSError as error:
        logger.error("worker cannot listen on %s:%s: %s", arguments.host, arguments.port, error)
        sys.exit(STARTUP_FAILURE)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    def __init__(self, arguments: argparse.Namespace) -> None:
        self.arguments = arguments
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[BaseProcess] = []
        self.stopping = threading.Event()
        self.exit_code = 0
        self.metrics_dir = ""

    def start_worker(self) -> BaseProcess:
        worker = self.context.Process(
            target=serve_worker, args=(self.arguments, os.getpid()), daemon=False
        )
        worker.start()
        logger.info("started worker %s", worker.pid)
        return worker

    def stop(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("received %s, stopping the workers", signal.Signals(signum).name)
        self.stopping.set()

    def run(self) -> int:
        # SIGHUP too: its default would end this process at once, without the workers.
        for stopping_signal in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(stopping_signal, self.stop)
        # Each worker keeps its metrics in files here (prometheus_client's multiprocess mode,
        # chosen when it is imported, so before the workers start); /metrics on any worker
        # adds them up. A fresh directory: figures of an earlier run must not count again.
        self.metrics_dir = tempfile.mkdtemp(prefix="portal-sso-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = self.metrics_dir
        try:
            self.workers = [self.start_worker() for _ in range(self.arguments.workers)]
            while not self.stopping.wait(0.5):
                self.replace_ended_workers()
            self.stop_workers()
        finally:
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        return self.exit_code

    def replace_ended_workers(self) -> None:
        for index, worker in enumerate(self.workers):
            if worker.is_alive():
                continue
            worker.join()
            if worker.pid is not None:
                # Its live gauges go with it.
                mark_process_dead(worker.pid, self.metrics_dir)  # type: ignore[no-untyped-call]
            if worker.exitcode == STARTUP_FAILURE:
                logger.error("worker %s could not start; stopping", worker.pid)
                self.exit_code = STARTUP_FAILURE
                self.stopping.set()
                return
            logger.warning(
                "worker %s ended (exit code %s); replacing it", worker.pid, worker.exitcode
            )
            self.workers[index] = self.start_worker()

    def stop_workers(self) -> None:
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()  # SIGTERM: uvicorn finishes the requests in progress
        # One deadline for all: they drain side by side, so N workers take 25 s, not N x 25 s.
        deadline = time.monotonic() + SHUTDOWN_SECONDS
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                logger.warning("worker %s did not stop in time; killing it", worker.pid)
                worker.kill()
                worker.join()


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    configure_logging(arguments.log_level)
    error = cannot_listen(arguments.host, arguments.port)
    if error is not None:
        logger.error("cannot listen on %s:%s: %s", arguments.host, arguments.port, error.strerror)
        return STARTUP_FAILURE
    if arguments.workers == 1:
        config = server_config(arguments)
        if not load_app(config):
            return STARTUP_FAILURE
        uvicorn.Server(config).run()
        return 0
    return Supervisor(arguments).run()


if __name__ == "__main__":
    sys.exit(main())
