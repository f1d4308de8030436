"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) with key rotation.

The first key of ENCRYPTION_KEYS encrypts; every key is tried to decrypt, so data written
under an older key keeps working after a new key is put in front. ``rotate`` re-encrypts a
value under the current first key.
"""

from __future__ import annotations

import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from jwt.types import Options

from app.errors import AppError

# NIST SP 800-131A disallows shorter RSA keys for signatures: a token signed with one can be
# forged by whoever factors the key. PyJWT only warns about them.
MIN_RSA_KEY_BITS = 2048

# PyJWT verifies the signature (with the pinned algorithm); times are checked against an
# injectable clock, audience and issuer by each caller's own rule (install, tenant, Forge and ID tokens).
SIGNATURE_ONLY: Options = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def audiences(value: object) -> list[str]:
    """A JWT's ``aud`` as a list (RFC 7519 4.1.3: a string or an array of strings); what is
    not a string is no audience."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def same_secret(given: str, expected: str) -> bool:
    """Compare in constant time. ``hmac.compare_digest`` raises on ``str`` with non-ASCII
    characters, and ``given`` may be anything a caller sent: compare the UTF-8 bytes instead
    (``surrogatepass`` keeps lone surrogates, which URL and form decoding can produce)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


KEY_FORMAT = (
    "ENCRYPTION_KEYS entries must be Fernet keys (32 url-safe base64 bytes); make one with: "
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)


def is_key(text: str) -> bool:
    try:
        Fernet(text.encode())
    except ValueError:
        return False
    return True


class SecretBoxError(AppError):
    code = "secret_undecryptable"


class SecretBox:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one encryption key is required")
        try:
            self._fernet = MultiFernet([Fernet(key.encode()) for key in keys])
        except ValueError as e:
            raise ValueError(KEY_FORMAT) from e

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as e:
            raise SecretBoxError("a stored secret cannot be decrypted with ENCRYPTION_KEYS") from e

    def rotate(self, ciphertext: str) -> str:
        try:
            return self._fernet.rotate(ciphertext.encode()).decode()
        except InvalidToken as e:
            raise SecretBoxError("a stored secret cannot be decrypted with ENCRYPTION_KEYS") from e
