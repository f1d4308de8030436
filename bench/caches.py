"""What a cache lookup costs: the hand-written bounded dicts (``app.bounded.put_bounded``)
against cachetools, whose caches replaced the other hand-written ones.

Prints the time per ``get`` of a present key and per store, each the best of five rounds of
200,000 operations, for a plain dict, cachetools' FIFOCache, LRUCache and TLRUCache (the one
with a per-entry expiry, as the tenant, desk and discovery caches need). Run:
``.venv/bin/python bench/caches.py``.
"""

from __future__ import annotations

import time
import timeit

from cachetools import FIFOCache, LRUCache, TLRUCache

from app.bounded import put_bounded

N = 200_000
KEYS = [f"tenant-{i}" for i in range(5000)]


def best(statement: str, namespace: dict[str, object]) -> float:
    return min(timeit.repeat(statement, globals=namespace, number=N, repeat=5)) / N * 1e9


def main() -> None:
    plain: dict[str, tuple[float, str]] = {}
    for key in KEYS:
        put_bounded(plain, key, (time.monotonic() + 60, key), max_entries=10_000)
    fifo: FIFOCache[str, str] = FIFOCache(maxsize=10_000)
    lru: LRUCache[str, str] = LRUCache(maxsize=10_000)
    tlru: TLRUCache[str, str] = TLRUCache(
        maxsize=10_000, ttu=lambda _k, _v, now: now + 60, timer=time.monotonic
    )
    for cache in (fifo, lru, tlru):
        for key in KEYS:
            cache[key] = key
    ns = {
        "plain": plain,
        "fifo": fifo,
        "lru": lru,
        "tlru": tlru,
        "key": KEYS[1234],
        "put_bounded": put_bounded,
        "time": time,
    }
    rows = [
        (
            "dict + expiry check (put_bounded's caches)",
            "e = plain.get(key); e and e[0] > time.monotonic()",
        ),
        ("cachetools FIFOCache", "fifo.get(key)"),
        ("cachetools LRUCache", "lru.get(key)"),
        ("cachetools TLRUCache (per-entry expiry)", "tlru.get(key)"),
    ]
    print(f"{'get of a present key':45} ns/op")
    for label, statement in rows:
        print(f"{label:45} {best(statement, ns):6.0f}")
    stores = [
        (
            "put_bounded",
            "put_bounded(plain, key, (time.monotonic() + 60, key), max_entries=10_000)",
        ),
        ("FIFOCache", "fifo[key] = key"),
        ("LRUCache", "lru[key] = key"),
        ("TLRUCache", "tlru[key] = key"),
    ]
    print(f"\n{'store':45} ns/op")
    for label, statement in stores:
        print(f"{label:45} {best(statement, ns):6.0f}")


if __name__ == "__main__":
    main()
