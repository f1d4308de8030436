"""RSA keys for test fixtures, generated once per run and handed out in turn.

Generating a 2048-bit key costs about 50 ms; fixtures that made one per test spent a tenth of
the suite's time on it. ``rsa_2048()`` returns the next key of a pool of ``POOL_SIZE``, so
consecutive calls return distinct keys: a test that needs an attacker's key beside the
legitimate one gets a different key as long as it asks for no more than ``POOL_SIZE`` keys.
Each test builds a fresh app, so no cache carries a key from one test into the next.
"""

from __future__ import annotations

from itertools import cycle

from cryptography.hazmat.primitives.asymmetric import rsa

POOL_SIZE = 8

_pool: list[rsa.RSAPrivateKey] = []
_turn = cycle(range(POOL_SIZE))


def rsa_2048() -> rsa.RSAPrivateKey:
    """The pool's next key (made on first use)."""
    index = next(_turn)
    if index == len(_pool):
        _pool.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _pool[index]
