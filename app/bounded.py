"""Size bounds for the per-process caches, whose entries are tuples led by their expiry.

A process serving thousands of Jira sites meets many tenants, desks and admins; entries only
expire when looked up again, so without a bound the caches would keep everything ever seen.

Why this stays hand-written while the other caches are cachetools': the tenant, desk, admin
and discovery caches keep a per-entry expiry that their callers still read after it passed
(the JWKS is served stale within a forced-refresh interval, a desk known missing is cached
for less time than a found one), which cachetools' TLRUCache hides by dropping the entry; and
they sit on the login's hot path, where ``bench/caches.py`` measured a lookup at 120 ns here
against 1,600 ns in TLRUCache, and a store at 320 against 2,200 ns (2026-12-06, this
machine's 2 cores).
"""

from __future__ import annotations

import time
from typing import Any, TypeVar

K = TypeVar("K")


def put_bounded(entries: dict[K, Any], key: K, entry: tuple[Any, ...], *, max_entries: int) -> None:
    """Store ``entry`` (``(expires_at, ...)``, monotonic clock) as the newest; when over the
    bound, drop expired entries, then the oldest, down to nine tenths of it."""
    entries.pop(key, None)
    entries[key] = entry
    if len(entries) <= max_entries:
        return
    now = time.monotonic()
    for stale in [k for k, value in entries.items() if value[0] <= now]:
        del entries[stale]
    keep = max_entries * 9 // 10
    while len(entries) > keep:
        del entries[next(iter(entries))]
