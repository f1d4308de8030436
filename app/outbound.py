"""The one outbound HTTP client (httpx) that every tenant's IdP and Jira calls share, and the
rule for where it may connect.

A tenant's admin types the IdP's URLs, so without a rule they could make this service call
into its operator's network (SSRF). ``AddressCheckingBackend`` sits on httpcore's public
network-backend interface: it resolves the host itself, keeps only the addresses the policy
permits, and has httpcore's own backend (anyio) connect to those addresses, so a DNS answer
that changes between check and use cannot slip through. Loopback only with
DEV_ALLOW_HTTP_LOOPBACK, private and reserved ranges only with ALLOW_PRIVATE_NETWORK_ENDPOINTS.
TLS is httpcore's, with the host name httpx passes (certificate and name still verified).
Requests through a proxy from the environment are the proxy's to police.

Until December 2026 the connections ran on 200 hand-written lines of asyncio streams, which
skipped anyio's per-request liveness check. Measured on 2026-12-06 (``bench/outbound.py``,
2000 token calls, median of 3) they saved 0.13 ms of client CPU per call with one call in
flight (0.81 against 0.93 ms) and 0.38 ms with 16 (1.38 against 1.76 ms): a login makes two
or three such calls, so well under a millisecond, not enough to keep a second network layer
that has to track httpcore's. The app's client now costs about what httpx as shipped does
(0.94 against 1.0 ms; 2.2 against 2.0 ms with 16, the bounded reads included).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import logging
import socket
import ssl
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
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

Connection = typing.TypeVar("Connection")


async def first_to_connect(
    attempts: Sequence[Callable[[], Awaitable[Connection]]],
    *,
    delay: float,
    close: Callable[[Connection], Awaitable[None]],
) -> Connection:
    """RFC 8305 ("happy eyeballs"): start each attempt when the one before it failed or after
    ``delay``, whichever comes first; the first connection made wins and every other attempt
    is cancelled (a connection it made anyway is closed with ``close``). A dual-stack host
    whose IPv6 route drops packets thus costs ``delay``, not the whole connect timeout.
    (anyio races the addresses it resolves itself; here the addresses are the ones the
    policy checked, so the race is ours.)"""
    pending: set[asyncio.Task[Connection]] = set()
    errors: list[BaseException] = []

    async def settle(timeout: float | None) -> Connection | None:
        done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        winners = []
        for task in done:
            pending.discard(task)
            if (error := task.exception()) is not None:
                errors.append(error)
            else:
                winners.append(task.result())
        for extra in winners[1:]:
            await close(extra)
        return winners[0] if winners else None

    try:
        for attempt in attempts:
            pending.add(asyncio.ensure_future(attempt()))
            if (winner := await settle(delay)) is not None:
                return winner
        while pending:
            if (winner := await settle(None)) is not None:
                return winner
        raise errors[-1] if errors else OSError("no address to connect to")
    finally:
        for task in pending:
            task.cancel()
        for result in await asyncio.gather(*pending, return_exceptions=True):
            if not isinstance(result, BaseException):  # connected as it was cancelled
                await close(result)


def interleave_families(addresses: list[tuple[typing.Any, ...]]) -> list[tuple[typing.Any, ...]]:
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


class AddressCheckingBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend that connects only where ``policy`` permits (TCP only: the
    app never uses Unix sockets); ``inner`` makes the connections."""

    def __init__(
        self,
        policy: AddressPolicy | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.policy = policy or AddressPolicy()
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        def attempt(address: str) -> Callable[[], Awaitable[httpcore.AsyncNetworkStream]]:
            return lambda: self.inner.connect_tcp(
                address,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )

        async def close(stream: httpcore.AsyncNetworkStream) -> None:
            await stream.aclose()

        try:
            async with asyncio.timeout(timeout):
                resolved = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
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
                return await first_to_connect(
                    [attempt(str(address[4][0])) for address in interleave_families(addresses)],
                    delay=HAPPY_EYEBALLS_DELAY_SECONDS,
                    close=close,
                )
        except TimeoutError as e:
            raise httpcore.ConnectTimeout(str(e) or "connect timed out") from e
        except OSError as e:  # a name that does not resolve
            raise httpcore.ConnectError(str(e) or type(e).__name__) from e

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def _no_cookies() -> CookieJar:
    """A jar that keeps nothing. The one outbound client serves every tenant: a cookie that a
    Jira site or an IdP sets (Domain=.atlassian.net, say) must never ride along to another
    tenant's site, and a jar that kept them would grow for as long as the process lives."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


def check_addresses(client: httpx.AsyncClient, policy: AddressPolicy | None = None) -> None:
    """Put the client's direct connections on ``AddressCheckingBackend``. Connections through
    a proxy from the environment keep httpx's own transports.

    httpx takes no network backend in its public interface, so this sets the pool's; it raises
    ``RuntimeError`` when httpx's transport no longer has that shape: the address policy must
    not silently go missing after an upgrade.
    """
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    if not isinstance(pool, httpcore.AsyncConnectionPool) or not hasattr(pool, "_network_backend"):
        raise RuntimeError("httpx's transport has changed shape: see app/outbound.py")
    pool._network_backend = AddressCheckingBackend(policy)


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
    check_addresses(client, policy)
    return client
