"""The per-process caches stay bounded however many tenants a process meets."""

from __future__ import annotations

import time
from typing import Any

from app.bounded import put_bounded


def test_expired_entries_go_first_then_the_oldest() -> None:
    now = time.monotonic()
    entries: dict[str, Any] = {}
    put_bounded(entries, "expired", (now - 1, "x"), max_entries=10)
    for n in range(10):
        put_bounded(entries, f"live-{n}", (now + 60, n), max_entries=10)
    assert len(entries) <= 10
    assert "expired" not in entries
    assert "live-9" in entries  # the newest stays
    assert "live-0" not in entries  # the oldest went


def test_storing_again_makes_an_entry_the_newest() -> None:
    later = time.monotonic() + 60
    entries: dict[str, Any] = {}
    for n in range(5):
        put_bounded(entries, f"k{n}", (later, n), max_entries=5)
    put_bounded(entries, "k0", (later, "again"), max_entries=5)
    put_bounded(entries, "k5", (later, 5), max_entries=5)
    assert "k0" in entries
    assert "k1" not in entries
    assert len(entries) <= 5
