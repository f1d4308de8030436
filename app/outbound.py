"""The one outbound HTTP client (httpx) that every tenant's IdP and Jira calls share, and the
network layer under it.

httpcore reaches asyncio through anyio by default. Before each request its pool asks every
pooled connection whether the server closed it, and anyio answers that by building a table of
socket attributes each time. With 16 logins in flight that check was a tenth of the app's CPU
per login. ``AsyncioBackend`` gives httpcore the same connections on asyncio streams directly;
TLS is still the ``ssl`` module's, with the context and server name httpx passes
(certificate and host name verified, as before).

The backend also decides where the app may connect. A tenant's admin types the IdP's URLs,
so without a rule they could make this service call into its operator's network (SSRF).
It connects only to public addresses, checked on the addresses the name resolved to at
connect time (so a DNS answer that changes between check and use cannot slip through):
loopback only with DEV_ALLOW_HTTP_LOOPBACK, private and reserved ranges only with
ALLOW_PRIVATE_NETWORK_ENDPOINTS. Requests through a proxy from the environment are the
proxy's to police.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import select
import socket
import ssl
import typing
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from http.cookiejar import CookieJar, DefaultCookiePolicy
from itertools import chain, zip_longest

import httpcore
import httpx

logger = logging.getLogger(__name__)

# RFC 8305's recommended delay before racing the next address of a dual-stack host (anyio's
# default too).
HAPPY_EYEBALLS_DELAY_SECONDS = 0.25

# setsockopt's argument forms, as httpcore's interface spells them.
SocketOption = (
    tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]
)


def _readable(fileno: int) -> bool:
    """Whether a read would not block: data, or the peer's close, is waiting."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fileno, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fileno], [], [], 0)
    return bool(readable)


class AsyncioStream(httpcore.AsyncNetworkStream):
    """One connection, on an asyncio stream pair."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as e:  # before OSError: TimeoutError is one
            raise httpcore.ReadTimeout(str(e) or "read timed out") from e
        except OSError as e:
            raise httpcore.ReadError(str(e) or type(e).__name__) from e

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            self._writer.write(buffer)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError as e:
            raise httpcore.WriteTimeout(str(e) or "write timed out") from e
        except OSError as e:
            raise httpcore.WriteError(str(e) or type(e).__name__) from e

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(ssl_context, server_hostname=server_hostname)
        except TimeoutError as e:
            await self.aclose()
            raise httpcore.ConnectTimeout(str(e) or "TLS handshake timed out") from e
        except OSError as e:  # ssl.SSLError (a certificate refused, say) is one
            await self.aclose()
            raise httpcore.ConnectError(str(e) or type(e).__name__) from e
        return self

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            # An idle keep-alive connection is readable only when the server closed it.
            # The event loop may have read that close already; then the stream is at EOF.
            if self._reader.at_eof() or self._writer.is_closing():
                return True
            sock = self._writer.get_extra_info("socket")
            return sock is None or _readable(sock.fileno())
        if info == "ssl_object":
            return self._writer.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        if info == "socket":
            return self._writer.get_extra_info("socket")
        return None


Attempt = Callable[[], Coroutine[typing.Any, typing.Any, socket.socket]]


async def first_to_connect(attempts: Sequence[Attempt], *, delay: float) -> socket.socket:
    """RFC 8305 ("happy eyeballs"): start each attempt when the one before it failed or after
    ``delay``, whichever comes first; the first socket to connect wins and every other attempt
    is cancelled (its socket closed). A dual-stack host whose IPv6 route drops packets thus
    costs ``delay``, not the whole connect timeout. (uvloop, which uvicorn runs on, does not
    take asyncio's ``happy_eyeballs_delay``.)"""
    pending: set[asyncio.Task[socket.socket]] = set()
    errors: list[BaseException] = []

    async def settle(timeout: float | None) -> socket.socket | None:
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        winners = []
        for task in done:
            pending.discard(task)
            if (error := task.exception()) is not None:
                errors.append(error)
            else:
                winners.append(task.result())
        for extra in winners[1:]:
            extra.close()
        return winners[0] if winners else None

    try:
        for attempt in attempts:
            pending.add(asyncio.create_task(attempt()))
            if winner := await settle(delay):
                return winner
        while pending:
            if winner := await settle(None):
                return winner
        raise errors[-1] if errors else OSError("no address to connect to")
    finally:
        for task in pending:
            task.cancel()
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if isinstance(result, socket.socket):  # connected as it was cancelled
                result.close()


def _interleaved(addresses: list[tuple[typing.Any, ...]]) -> list[tuple[typing.Any, ...]]:
    """RFC 8305 section 4: alternate address families, the resolver's first family first."""
    families: dict[int, list[tuple[typing.Any, ...]]] = {}
    for address in addresses:
        families.setdefault(address[0], []).append(address)
    return [a for a in chain.from_iterable(zip_longest(*families.values())) if a is not None]


# IPv6 forms that carry an IPv4 address in their last 32 bits: NAT64's well-known prefix
# (RFC 6052; DNS64 networks route it to the IPv4 address) and the deprecated IPv4-compatible
# form (``::1`` aside). ``ipaddress`` calls both global whatever IPv4 address they carry.
_CARRY_IPV4_LOW_BITS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    if ip.sixtofour is not None:  # 2002::/16, routed to the IPv4 address through a relay
        return str(ip.sixtofour)
    if not ip.is_loopback and any(ip in network for network in _CARRY_IPV4_LOW_BITS):
        return str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return None


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """Which resolved addresses outbound connections may reach."""

    allow_loopback: bool = False
    allow_private: bool = False

    def permits(self, address: str) -> bool:
        ip = ipaddress.ip_address(address.partition("%")[0])  # an IPv6 zone is not an address
        if (embedded := _embedded_ipv4(ip)) is not None:
            return self.permits(embedded)  # an IPv6 form must not get around the IPv4 rule
        if ip.is_global:
            return True
        if ip.is_loopback:
            return self.allow_loopback or self.allow_private
        # Private, link-local (cloud metadata services), shared, reserved, IPv4-mapped ones...
        return self.allow_private and not ip.is_unspecified and not ip.is_multicast


class RefusedAddressError(httpcore.ConnectError):
    """The host resolved only to addresses the policy does not permit."""


def refused_address(error: BaseException) -> bool:
    """Whether an httpx error is the address policy's refusal (httpx wraps httpcore's)."""
    return isinstance(error, RefusedAddressError) or isinstance(
        error.__cause__, RefusedAddressError
    )


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend on asyncio (TCP only: the app never uses Unix sockets)."""

    def __init__(self, policy: AddressPolicy | None = None) -> None:
        self.policy = policy or AddressPolicy()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()

        def attempt(family: int, address: typing.Any) -> Attempt:
            async def connect() -> socket.socket:
                sock = socket.socket(family, socket.SOCK_STREAM)
                try:
                    sock.setblocking(False)
                    if local_address:
                        sock.bind((local_address, 0))
                    for option in socket_options or ():
                        sock.setsockopt(*option)
                    await loop.sock_connect(sock, address)
                except BaseException:
                    sock.close()
                    raise
                return sock

            return connect

        try:
            async with asyncio.timeout(timeout):
                resolved = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
                addresses = [a for a in resolved if self.policy.permits(str(a[4][0]))]
                if not addresses:
                    # The addresses go to the operator's log only: a tenant's admin must not
                    # learn the operator's network from an error page.
                    logger.warning(
                        "outbound connection refused: %s resolves only to non-public addresses %s",
                        host,
                        sorted({a[4][0] for a in resolved}),
                    )
                    raise RefusedAddressError(
                        f"{host} is not on the public internet; this service does not call it"
                    )
                sock = await first_to_connect(
                    [attempt(family, address) for family, *_, address in _interleaved(addresses)],
                    delay=HAPPY_EYEBALLS_DELAY_SECONDS,
                )
                try:
                    reader, writer = await asyncio.open_connection(sock=sock)
                except BaseException:  # cancelled by the timeout, say: the socket is ours
                    sock.close()
                    raise
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(str(e) or "connect timed out") from e
        except OSError as e:  # refused, unreachable, or a name that does not resolve
            raise httpcore.ConnectError(str(e) or type(e).__name__) from e
        return AsyncioStream(reader, writer)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing. The one outbound client serves every tenant: a cookie that a
    Jira site or an IdP sets (Domain=.atlassian.net, say) must never ride along to another
    tenant's site, and a jar that kept them would grow for as long as the process lives."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def use_asyncio_streams(client: httpx.AsyncClient, policy: AddressPolicy | None = None) -> None:
    """Put the client's direct connections on ``AsyncioBackend``. Connections through a proxy
    from the environment keep httpx's own transports.

    Raises ``RuntimeError`` when httpx's transport no longer has the shape this relies on
    (a private attribute): the address policy must not silently go missing after an upgrade.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx's transport has changed shape: see app/outbound.py")
    pool._network_backend = AsyncioBackend(policy)


# What one answer may weigh, decoded. IdP documents, tokens, key sets and Atlassian's keys
# are a few kB; Jira's pages of requests or comments can be large, so its client asks for
# more (``extensions={MAX_RESPONSE_BYTES: ...}``).
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024
MAX_RESPONSE_BYTES = "portal_sso_max_response_bytes"


class ResponseTooLargeError(httpx.RequestError):
    """The answer was larger than the request allows."""


class BoundedClient(httpx.AsyncClient):
    """Every answer is read whole (none is streamed), within a size and a time limit.

    A tenant's admin chooses the IdP's URLs, so the server at the other end may be hostile.
    httpx's timeouts bound each read, not the whole answer: a server trickling a byte at a
    time, or streaming without end, or sending a small gzip that inflates to gigabytes,
    would hold a worker's memory or time for as long as it likes, and with it the sign-ins
    of every other site that worker serves."""

    def __init__(self, *, total_seconds: float, **kwargs: typing.Any) -> None:
        super().__init__(**kwargs)
        self.total_seconds = total_seconds

    async def send(
        self, request: httpx.Request, *, stream: bool = False, **kwargs: typing.Any
    ) -> httpx.Response:
        if stream:
            raise TypeError("the shared client reads every answer whole; do not stream")
        limit = int(request.extensions.get(MAX_RESPONSE_BYTES, DEFAULT_MAX_RESPONSE_BYTES))
        try:
            async with asyncio.timeout(self.total_seconds):
                response = await super().send(request, stream=True, **kwargs)
                try:
                    await _read_within(response, limit)
                except BaseException:
                    await response.aclose()
                    raise
        except TimeoutError as e:
            raise httpx.ReadTimeout(
                f"no complete answer within {self.total_seconds:g} s", request=request
            ) from e
        return response


async def _read_within(response: httpx.Response, limit: int) -> None:
    """``response.aread()``, refusing more than ``limit`` bytes after decoding."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ResponseTooLargeError(
            f"the answer is larger than {limit} bytes", request=response.request
        )
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_bytes():
        size += len(part)
        if size > limit:
            raise ResponseTooLargeError(
                f"the answer is larger than {limit} bytes", request=response.request
            )
        parts.append(part)
    response._content = b"".join(parts)  # where Response.aread() keeps what it read


@functools.cache
def _verifying_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's CA bundle, host names checked), made once per
    process: loading the bundle costs about 30 ms, and a context is safe to share between
    clients. The test suite builds an app per test and spent 5 % of its time here."""
    return httpx.create_ssl_context()


def create_http_client(
    *, timeout_seconds: float, policy: AddressPolicy | None = None
) -> httpx.AsyncClient:
    """The shared client: explicit timeouts, a bound on each answer's size and on its whole
    time, no redirects followed, no cookies kept, and connections only where ``policy``
    permits (public addresses by default)."""
    client = BoundedClient(
        total_seconds=2 * timeout_seconds,
        timeout=httpx.Timeout(timeout_seconds, connect=5.0),
        follow_redirects=False,
        cookies=_no_cookies(),
        verify=_verifying_context(),
    )
    use_asyncio_streams(client, policy)
    return client
