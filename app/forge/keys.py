"""Forge's FIT signing keys, from its JWKS (``FORGE_JWKS_URL``), cached by ``kid``.

Every key in the document is accepted at once, so a second key Forge publishes ahead of a
rotation works from its first token. A ``kid`` not in the cache refetches the document, at
most once a minute (and one fetch at a time), so a flood of tokens with made-up ``kid``s
cannot become a flood of requests to Atlassian.

Hand-written rather than PyJWT's ``PyJWKClient``: that client fetches with blocking urllib,
which would stall the event loop for a whole fetch and bypass the shared outbound client's
timeouts and address policy. Parsing each key is PyJWT's (``PyJWK``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from app.crypto import MIN_RSA_KEY_BITS
from app.forge.tokens import InvocationTokenError

logger = logging.getLogger(__name__)
REFETCH_SECONDS = 60.0
MAX_KEYS = 32


class ForgeKeys:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        jwks_url: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._url = jwks_url
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self, kid: str) -> RSAPublicKey:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:
            key = self._keys.get(kid)  # fetched while this call waited
            if key is None and self._may_fetch():
                await self._refresh()
                key = self._keys.get(kid)
        if key is None:
            raise InvocationTokenError("invocation token key is unknown")
        return key

    def _may_fetch(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= REFETCH_SECONDS

    async def _refresh(self) -> None:
        self._fetched_at = self._clock()
        try:
            response = await self._http.get(self._url, headers={"Accept": "application/json"})
        except httpx.HTTPError:
            logger.warning("Forge JWKS could not be fetched", exc_info=True)
            return
        if response.status_code != 200:
            logger.warning("Forge JWKS answered HTTP %s", response.status_code)
            return
        try:
            document = response.json()
        except ValueError:
            logger.warning("Forge JWKS is not JSON")
            return
        keys = _rsa_keys(document)
        if keys:
            # Keys no longer published are dropped: a retired key must stop working.
            self._keys = keys


def _rsa_keys(document: Any) -> dict[str, RSAPublicKey]:
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", "RS256") != "RS256":
            continue
        try:
            key = jwt.PyJWK(entry, algorithm="RS256").key
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            logger.warning("Forge JWKS key %s is not usable", kid)
            continue
        if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_KEY_BITS:
            keys[kid] = key
        if len(keys) >= MAX_KEYS:
            break
    return keys
