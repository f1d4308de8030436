"""Decrypting an ``EncryptedAssertion`` (XML Encryption 1.1, as SAML Core 6 profiles it) with
the service provider's private keys.

Accepted: the content key transported with RSA-OAEP (``rsa-oaep-mgf1p``, or ``rsa-oaep``
with its digest and MGF), and the Assertion encrypted with AES-GCM (128/192/256) or AES-CBC
(128/192/256). Refused: RSA PKCS#1 v1.5 key transport (``rsa-1_5``, open to Bleichenbacher's
attack), and anything else. Every failure after the algorithm check is the same
``DecryptionError`` with the same message, whatever went wrong (a wrong key, a bad tag, bad
padding, garbage): a padding oracle must learn nothing from the answer.

Written here: no maintained Python library decrypts XML Encryption without the ``xmlsec``
C binding (which the issue rules out); what it takes is an RSA-OAEP unwrap and one AES
decryption by ``cryptography``, about 60 lines.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding as asymmetric
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree

from app.errors import LoginError

XENC = "http://www.w3.org/2001/04/xmlenc#"
XENC11 = "http://www.w3.org/2009/xmlenc11#"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"xenc": XENC, "xenc11": XENC11, "ds": DS}

RSA_OAEP_MGF1P = XENC + "rsa-oaep-mgf1p"
RSA_OAEP = XENC11 + "rsa-oaep"
RSA_1_5 = XENC + "rsa-1_5"
GCM = {XENC11 + "aes128-gcm": 16, XENC11 + "aes192-gcm": 24, XENC11 + "aes256-gcm": 32}
CBC = {XENC + "aes128-cbc": 16, XENC + "aes192-cbc": 24, XENC + "aes256-cbc": 32}
DIGESTS: dict[str, type[hashes.HashAlgorithm]] = {
    DS + "sha1": hashes.SHA1,
    "http://www.w3.org/2001/04/xmlenc#sha256": hashes.SHA256,
    "http://www.w3.org/2001/04/xmlenc#sha512": hashes.SHA512,
}
MGFS: dict[str, type[hashes.HashAlgorithm]] = {
    XENC11 + "mgf1sha1": hashes.SHA1,
    XENC11 + "mgf1sha256": hashes.SHA256,
    XENC11 + "mgf1sha512": hashes.SHA512,
}


class DecryptionError(LoginError):
    """The one answer for every decryption failure."""

    code = "saml_decryption_failed"

    def __init__(self, reason: str) -> None:
        super().__init__("the sign-in answer could not be verified")
        self.reason = reason
        self.audit_detail = f"the sign-in answer could not be verified ({reason})"


def decrypt_assertion(encrypted: etree._Element, keys: Sequence[rsa.RSAPrivateKey]) -> bytes:
    """The serialized Assertion inside ``encrypted`` (a ``saml:EncryptedAssertion``)."""
    data = encrypted.find("xenc:EncryptedData", NS)
    method = data.find("xenc:EncryptionMethod", NS) if data is not None else None
    wrapped = encrypted.find(".//xenc:EncryptedKey", NS)
    key_method = wrapped.find("xenc:EncryptionMethod", NS) if wrapped is not None else None
    if data is None or method is None or wrapped is None or key_method is None:
        raise DecryptionError("unsupported_encryption")
    content_algorithm = method.get("Algorithm") or ""
    key_algorithm = key_method.get("Algorithm") or ""
    if key_algorithm == RSA_1_5:
        raise DecryptionError("rsa_1_5_refused")
    if key_algorithm not in (RSA_OAEP_MGF1P, RSA_OAEP) or content_algorithm not in (GCM | CBC):
        raise DecryptionError("unsupported_encryption")
    try:
        oaep = _oaep(key_method, key_algorithm)
        wrapped_key = _cipher_value(wrapped)
        ciphertext = _cipher_value(data)
    except (ValueError, KeyError) as e:
        raise DecryptionError("decryption_failed") from e
    for key in keys:
        try:
            content_key = key.decrypt(wrapped_key, oaep)
            return _decrypt_content(content_algorithm, content_key, ciphertext)
        except (ValueError, InvalidTag):
            continue
    raise DecryptionError("decryption_failed")


def _oaep(method: etree._Element, algorithm: str) -> asymmetric.OAEP:
    digest_method = method.find("ds:DigestMethod", NS)
    digest = (
        DIGESTS[digest_method.get("Algorithm") or ""] if digest_method is not None else hashes.SHA1
    )
    mgf: type[hashes.HashAlgorithm] = hashes.SHA1
    if algorithm == RSA_OAEP and (mgf_method := method.find("xenc11:MGF", NS)) is not None:
        mgf = MGFS[mgf_method.get("Algorithm") or ""]
    return asymmetric.OAEP(mgf=asymmetric.MGF1(algorithm=mgf()), algorithm=digest(), label=None)


def _cipher_value(element: etree._Element) -> bytes:
    value = element.find("xenc:CipherData/xenc:CipherValue", NS)
    if value is None or not value.text:
        raise ValueError("no CipherValue")
    return base64.b64decode("".join(value.text.split()), validate=True)


def _decrypt_content(algorithm: str, key: bytes, ciphertext: bytes) -> bytes:
    if algorithm in GCM:
        if len(key) != GCM[algorithm] or len(ciphertext) < 12 + 16:
            raise ValueError("bad key or ciphertext length")
        # XML Encryption 1.1, 5.2.4: a 96-bit IV, then the ciphertext with its 128-bit tag.
        return AESGCM(key).decrypt(ciphertext[:12], ciphertext[12:], None)
    if len(key) != CBC[algorithm] or len(ciphertext) < 32 or len(ciphertext) % 16:
        raise ValueError("bad key or ciphertext length")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(ciphertext[:16])).decryptor()
    padded = decryptor.update(ciphertext[16:]) + decryptor.finalize()
    # XML Encryption 5.2.1: the last byte says how many bytes of padding (ISO 10126: the
    # others are arbitrary, so PKCS#7's check of them would refuse valid messages).
    count = padded[-1]
    if not 1 <= count <= 16:
        raise ValueError("bad padding")
    return padded[:-count]
