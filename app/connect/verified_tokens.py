"""Tokens this process has already verified, so a token that is presented again is not
verified again.

The admin iframe gets its token from ``AP.context.getToken()``, which hands out the same token
until it nears expiry, and sends it with every API call. Verifying it costs more than the rest
of a typical admin request; remembering it is safe because an entry is bound to exactly what
the verification depended on:

* the token's exact text (the dictionary compares whole strings, not hashes);
* the tenant's encrypted secret at the time (a reinstall always changes it, so a token
  verified under an old secret is verified again, and fails, at once);
* the qsh the request expected (a page token is never accepted as a context token);

and everything that depends on time or on the tenant's status is checked again on each use
by the caller (expiry, installed and enabled). The memo is bounded: when full, the oldest
entries go first (cachetools' FIFOCache).
"""

from __future__ import annotations

from cachetools import FIFOCache

from app.connect.jwt import TokenClaims

MAX_ENTRIES = 4096


class VerifiedTokens:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: FIFOCache[str, tuple[str, str, TokenClaims]] = FIFOCache(max_entries)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, *, expected_qsh: str) -> tuple[str, TokenClaims] | None:
        """(the encrypted secret it was verified with, its claims), or None."""
        entry = self._entries.get(token)
        if entry is None or entry[1] != expected_qsh:
            return None
        return entry[0], entry[2]

    def remember(
        self, token: str, *, secret_encrypted: str, expected_qsh: str, claims: TokenClaims
    ) -> None:
        self._entries[token] = (secret_encrypted, expected_qsh, claims)

    def forget(self, token: str) -> None:
        self._entries.pop(token, None)
