"""Login rate limiting, so a flood cannot exhaust a tenant's IdP or Jira quotas, nor fill its
audit log.

Sliding windows per (tenant, client IP) and per tenant, kept in each instance's memory: with
N instances behind a balancer the effective limit is up to N times the setting, which is the
intended trade-off (no database write on the hot path). The app keeps two limiters with the
same limits: one for login starts, one for refused sign-in responses (anyone can send the
callback a made-up or replayed state, and each refusal writes an audit row; an honest
browser's refusals are bounded by its starts).
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

    def allow(self, key: str, *, now: float | None = None) -> bool:
        if self.limit <= 0:
            return True
        now = time.monotonic() if now is None else now
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True


class LoginRateLimiter:
    def __init__(self, *, per_ip: int, per_tenant: int) -> None:
        self._per_ip = SlidingWindow(per_ip)
        self._per_tenant = SlidingWindow(per_tenant)

    def check(self, tenant_id: str, client_ip: str) -> None:
        """Count one attempt at ``tenant_id`` from ``client_ip``; raises when over the limit."""
        client = client_network(client_ip)
        if not self._per_ip.allow(f"{tenant_id}|{client}") or not self._per_tenant.allow(tenant_id):
            raise TooManyLoginsError(
                "there have been too many sign-in attempts from here; please wait a minute and try again"
            )


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
