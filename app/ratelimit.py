"""Login rate limiting, so a flood cannot exhaust a tenant's IdP or Jira quotas, nor fill its
audit log, while a customer company behind one NAT address still signs in all at once.

Sliding windows per (tenant, client IP) and per tenant, kept in each instance's memory: with
N instances behind a balancer the effective limit is up to N times the setting, which is the
intended trade-off (no database write on the hot path).

Per address two windows count login starts: the *unfinished* ones (a start is taken back when
its login comes back verified by the IdP), with the low limit that stops floods of abandoned
or forged starts; and all of them, under a far higher ceiling. A Monday-morning rush of real
sign-ins from one office finishes each start, so only the ceiling applies to it; a script that
starts logins and never finishes them meets the low limit. Finishing needs a real account at
the site's IdP, so the ceiling still bounds what one such account can do.

The app keeps apart limiters for login starts, for refused sign-in responses (anyone can send
the callback a made-up or replayed state, and each refusal writes an audit row; nothing is
ever taken back there) and for Atlassian's AuthnRequests at the Guard bridge.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque

from cachetools import LRUCache

from app.errors import AppError

WINDOW_SECONDS = 60.0
MAX_KEYS = 50_000


class TooManyLoginsError(AppError):
    status_code = 429
    code = "rate_limited"


class SlidingWindow:
    def __init__(
        self, limit: int, *, window: float = WINDOW_SECONDS, max_keys: int = MAX_KEYS
    ) -> None:
        self.limit = limit
        self.window = window
        # The least recently seen keys go first when full (cachetools' LRUCache).
        self._hits: LRUCache[str, deque[float]] = LRUCache(max_keys)

    @property
    def tracked_keys(self) -> int:
        """How many keys the window remembers (bounded)."""
        return len(self._hits)

    def has_room(self, key: str, *, now: float) -> bool:
        """Whether one more hit for ``key`` stays within the limit (counts nothing)."""
        if self.limit <= 0:
            return True
        hits = self._hits.get(key)
        if hits is None:
            return True
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return len(hits) < self.limit

    def record(self, key: str, *, now: float) -> None:
        if self.limit <= 0:
            return
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        hits.append(now)

    def take_back(self, key: str) -> None:
        """Forget one hit of ``key`` (the oldest still counted), if it has any."""
        hits = self._hits.get(key)
        if hits:
            hits.popleft()


class LoginRateLimiter:
    """``per_ip``: attempts per (site, address) a minute that are not taken back (all of them,
    when nothing is ever taken back); ``per_ip_ceiling``: all attempts per (site, address) a
    minute, taken back or not (0: none); ``per_tenant``: all attempts per site a minute."""

    def __init__(self, *, per_ip: int, per_tenant: int, per_ip_ceiling: int = 0) -> None:
        self._per_ip = SlidingWindow(per_ip)
        self._ceiling = SlidingWindow(per_ip_ceiling)
        self._per_tenant = SlidingWindow(per_tenant)

    def check(self, tenant_id: str, client_ip: str, *, now: float | None = None) -> None:
        """Count one attempt at ``tenant_id`` from ``client_ip``; raises when over a limit, and
        then counts nothing."""
        now = time.monotonic() if now is None else now
        key = _key(tenant_id, client_ip)
        windows = ((self._per_ip, key), (self._ceiling, key), (self._per_tenant, tenant_id))
        if not all(window.has_room(k, now=now) for window, k in windows):
            raise TooManyLoginsError(
                "there have been too many sign-in attempts from here; please wait a minute and try again"
            )
        for window, k in windows:
            window.record(k, now=now)

    def finished(self, tenant_id: str, client_ip: str) -> None:
        """A login from ``client_ip`` came back verified: one of its starts no longer counts
        against the per-address limit (the ceiling and the site's limit keep it)."""
        self._per_ip.take_back(_key(tenant_id, client_ip))


def _key(tenant_id: str, client_ip: str) -> str:
    return f"{tenant_id}|{client_network(client_ip)}"


def client_network(client_ip: str) -> str:
    """The unit the per-IP limit counts: an IPv4 address, or the /64 an IPv6 address is in.
    One subscriber (one home, one server) gets a whole /64 and can use any address in it,
    so counting single IPv6 addresses would let one client step around the limit and spend
    the site's whole allowance, locking its other customers out."""
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip  # not an address (a test client, a Unix socket): count it as it is
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def forwarded_by_untrusted_proxy(forwarded_for: str | None, client: str) -> bool:
    """True for a request that names a client in X-Forwarded-For yet arrives from an address
    that is not among them: a proxy that FORWARDED_ALLOW_IPS does not list (uvicorn puts the
    forwarded address in place of a trusted proxy's own). Its customers then all count as
    the proxy's one address against the per-IP limit."""
    if not forwarded_for:
        return False
    return client not in {part.strip() for part in forwarded_for.split(",")}
