from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from app.crypto import SecretBox, SecretBoxError, same_secret


def test_round_trip_and_ciphertext_hides_the_secret() -> None:
    box = SecretBox([Fernet.generate_key().decode()])
    ciphertext = box.encrypt("hunter2-shared-secret")
    assert "hunter2" not in ciphertext
    assert box.decrypt(ciphertext) == "hunter2-shared-secret"


def test_data_written_under_an_older_key_still_decrypts_after_rotation() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    written = SecretBox([old]).encrypt("s3cret")
    rotated_box = SecretBox([new, old])
    assert rotated_box.decrypt(written) == "s3cret"
    rewritten = rotated_box.rotate(written)
    assert SecretBox([new]).decrypt(rewritten) == "s3cret"


def test_unknown_key_gives_a_typed_error() -> None:
    written = SecretBox([Fernet.generate_key().decode()]).encrypt("x")
    with pytest.raises(SecretBoxError):
        SecretBox([Fernet.generate_key().decode()]).decrypt(written)


def test_malformed_key_is_explained() -> None:
    with pytest.raises(ValueError, match="Fernet"):
        SecretBox(["not-a-key"])


@pytest.mark.parametrize(
    ("given", "expected", "same"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("\u00e9t\u00e9", "abc", False),  # hmac.compare_digest raises on these as str
        ("\u00e9t\u00e9", "\u00e9t\u00e9", True),
        ("\udcff", "abc", False),  # a lone surrogate, as lenient URL decoding makes
    ],
)
def test_same_secret_compares_any_text(given: str, expected: str, same: bool) -> None:
    assert same_secret(given, expected) is same
