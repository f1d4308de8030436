"""Atlassian's install-signing public keys, fetched by ``kid`` and cached.

A key published under a kid never changes, so a fetched key is cached for the life of the
process (cachetools' LRUCache). A kid the CDN does not know is remembered for a minute (a
TTLCache) so that a flood of forged installs cannot turn into a flood of requests to
Atlassian.
"""

from __future__ import annotations

import httpx
from cachetools import LRUCache, TTLCache
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.crypto import MIN_RSA_KEY_BITS
from app.errors import InstallKeyError

_NEGATIVE_TTL_SECONDS = 60.0


class InstallKeyStore:
    def __init__(self, http: httpx.AsyncClient, *, keys_url: str, max_keys: int = 64) -> None:
        self._http = http
        self._keys_url = keys_url.rstrip("/")
        self._keys: LRUCache[str, RSAPublicKey] = LRUCache(max_keys)
        self._unknown: TTLCache[str, bool] = TTLCache(4 * max_keys, ttl=_NEGATIVE_TTL_SECONDS)

    @property
    def unknown_kids_held(self) -> int:
        """How many unknown kids are remembered (bounded)."""
        return len(self._unknown)

    async def get(self, kid: str) -> RSAPublicKey:
        """The RSA public key for ``kid`` (already format-checked by the caller)."""
        key = self._keys.get(kid)
        if key is not None:
            return key
        if kid in self._unknown:
            raise InstallKeyError("install token key is unknown")
        key = await self._fetch(kid)
        self._keys[kid] = key
        return key

    async def _fetch(self, kid: str) -> RSAPublicKey:
        try:
            response = await self._http.get(f"{self._keys_url}/{kid}")
        except httpx.HTTPError as e:
            raise InstallKeyError("install token key could not be fetched") from e
        if response.status_code == 404:
            self._unknown[kid] = True
            raise InstallKeyError("install token key is unknown")
        if response.status_code != 200:
            raise InstallKeyError("install token key could not be fetched")
        try:
            key = load_pem_public_key(response.content)
        except ValueError as e:
            raise InstallKeyError("install token key is not a valid public key") from e
        if not isinstance(key, RSAPublicKey):
            raise InstallKeyError("install token key is not an RSA key")
        if key.key_size < MIN_RSA_KEY_BITS:
            raise InstallKeyError("install token key is too short")
        return key
