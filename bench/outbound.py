"""CPU per outbound request of the app's shared client (``app.outbound.create_http_client``:
the address policy, the bounded reads) against httpx as shipped, with 1 and 16 requests in
flight, against a minimal HTTP/1.1 server in another process (so only the client's CPU is
counted). The request is a login's token call: a form POST answered by a small JSON body.

    .venv/bin/python -m bench.outbound [--requests 3000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time

import httpx
import uvloop

from app.outbound import AddressPolicy, create_http_client
from tests.support.live_server import free_port

TOKEN_RESPONSE = (
    b'{"access_token":"' + b"a" * 40 + b'","token_type":"Bearer","expires_in":3600,'
    b'"id_token":"' + b"x" * 900 + b'"}'
)


def serve(port: int) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        await reader.readexactly(int(value))
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    b"content-length: %d\r\n\r\n%s" % (len(TOKEN_RESPONSE), TOKEN_RESPONSE)
                )
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(main())


async def cpu_per_request(url: str, *, apps_client: bool, requests: int, in_flight: int) -> float:
    http = (
        create_http_client(timeout_seconds=10, policy=AddressPolicy(allow_loopback=True))
        if apps_client
        else httpx.AsyncClient(timeout=10)
    )
    async with http:

        async def caller(work: object) -> None:
            for _ in work:  # type: ignore[attr-defined]
                response = await http.post(url, data={"grant_type": "authorization_code"})
                response.json()

        # Warm up: open the connections the measured run reuses.
        await asyncio.gather(*(caller(range(100)) for _ in range(in_flight)))
        work = iter(range(requests))
        started = time.process_time()
        await asyncio.gather(*(caller(work) for _ in range(in_flight)))
        return (time.process_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    port = free_port()
    server = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    server.start()
    time.sleep(0.5)
    url = f"http://127.0.0.1:{port}/token"
    try:
        for in_flight in (1, 16):
            results: dict[str, list[float]] = {
                "httpx as shipped": [],
                "the app's client": [],
            }
            for _ in range(args.runs):  # interleaved: the machine's speed drifts
                for name in results:
                    results[name].append(
                        uvloop.run(
                            cpu_per_request(
                                url,
                                apps_client=name == "the app's client",
                                requests=args.requests,
                                in_flight=in_flight,
                            )
                        )
                    )
            for name, runs in results.items():
                print(
                    f"{in_flight:2} in flight, {name:24}: client CPU per request "
                    f"{statistics.median(runs):5.0f} us median of {args.runs} "
                    f"({min(runs):.0f}-{max(runs):.0f})"
                )
    finally:
        server.terminate()


if __name__ == "__main__":
    main()
