"""Each site's SAML keys: its service-provider keys (``purpose="sp"``), and apart from them
the Guard bridge's IdP signing key (``purpose="idp"``). The SP keys (RSA-2048, with a self-signed certificate, as SAML
metadata carries keys): made on first use, stored encrypted with the app's secret box,
rotated and retired from the admin API. A key is shared by the site's SAML IdPs, as one
SP certificate usually is.

* The newest active key signs AuthnRequests (for IdPs that want them signed).
* Every active key is published in our metadata, for signing and encryption, and tried when
  decrypting: after a rotation the IdPs can move to the new certificate in their own time;
  the admin retires the old key once they have.

The Guard bridge's IdP key rotates the other way round, because Atlassian's SP trusts one
certificate at a time: the next key is published in our IdP metadata beside the current one
but does not sign until the admin, having given Guard its certificate, switches to it
(which retires the old one). So there the *oldest* active key signs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import new_opaque_id
from app.crypto import SecretBox
from app.errors import InvalidInputError, NotFoundError
from app.models import SpKey

CERTIFICATE_YEARS = 10  # SAML trusts a metadata certificate by configuration, not its dates


@dataclass(frozen=True, slots=True)
class ActiveKey:
    id: str
    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    created_at: datetime


async def active_keys(
    session: AsyncSession,
    tenant_id: str,
    *,
    box: SecretBox,
    create: bool = True,
    purpose: str = "sp",
) -> list[ActiveKey]:
    """The site's active keys, newest (the signing one) first; one is made if there is none
    and ``create``."""
    rows = list(
        await session.scalars(
            select(SpKey)
            .where(
                SpKey.tenant_id == tenant_id,
                SpKey.purpose == purpose,
                SpKey.retired_at.is_(None),
            )
            .order_by(SpKey.created_at.desc(), SpKey.id)
        )
    )
    if not rows and create:
        rows = [await _new_key(session, tenant_id, box=box, purpose=purpose)]
    return [_loaded(row, box) for row in rows]


async def rotate(session: AsyncSession, tenant_id: str, *, box: SecretBox) -> ActiveKey:
    """A new signing key; the ones before stay active (published, decrypting) until retired."""
    return _loaded(await _new_key(session, tenant_id, box=box), box)


async def retire(session: AsyncSession, tenant_id: str, key_id: str, *, now: datetime) -> None:
    rows = list(
        await session.scalars(
            select(SpKey)
            .where(
                SpKey.tenant_id == tenant_id,
                SpKey.purpose == "sp",
                SpKey.retired_at.is_(None),
            )
            .order_by(SpKey.created_at.desc(), SpKey.id)
        )
    )
    found = next((row for row in rows if row.id == key_id), None)
    if found is None:
        raise NotFoundError("no such active key")
    if found is rows[0]:
        raise InvalidInputError(
            "this is the key that signs now; add a new key first, then retire this one"
        )
    found.retired_at = now
    await session.flush()


IDP = "idp"


def idp_signing_key(keys: list[ActiveKey]) -> ActiveKey:
    """The bridge key that signs: the oldest active one (``keys`` is newest first)."""
    return keys[-1]


async def prepare_next_idp_key(
    session: AsyncSession, tenant_id: str, *, box: SecretBox
) -> list[ActiveKey]:
    """The bridge's next signing key, published beside the current one; at most one waits."""
    keys = await active_keys(session, tenant_id, box=box, purpose=IDP)
    if len(keys) > 1:
        raise InvalidInputError(
            "a next key is already waiting; switch to it, once Guard has its certificate"
        )
    await _new_key(session, tenant_id, box=box, purpose=IDP)
    return await active_keys(session, tenant_id, box=box, purpose=IDP, create=False)


async def switch_idp_key(
    session: AsyncSession, tenant_id: str, *, box: SecretBox, now: datetime
) -> list[ActiveKey]:
    """The waiting key signs from now on; the one before is retired."""
    rows = list(
        await session.scalars(
            select(SpKey)
            .where(
                SpKey.tenant_id == tenant_id,
                SpKey.purpose == IDP,
                SpKey.retired_at.is_(None),
            )
            .order_by(SpKey.created_at, SpKey.id)
        )
    )
    if len(rows) < 2:
        raise InvalidInputError("there is no next key to switch to; prepare one first")
    for row in rows[:-1]:
        row.retired_at = now
    await session.flush()
    return await active_keys(session, tenant_id, box=box, purpose=IDP, create=False)


async def _new_key(
    session: AsyncSession, tenant_id: str, *, box: SecretBox, purpose: str = "sp"
) -> SpKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC)
    label = "IdP" if purpose == "idp" else "SP"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"Portal SSO {label} {tenant_id}")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=365 * CERTIFICATE_YEARS))
        .sign(key, hashes.SHA256())
    )
    row = SpKey(
        id=new_opaque_id(),
        tenant_id=tenant_id,
        purpose=purpose,
        private_key_encrypted=box.encrypt(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        ),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row


def _loaded(row: SpKey, box: SecretBox) -> ActiveKey:
    private = serialization.load_pem_private_key(
        box.decrypt(row.private_key_encrypted).encode(), password=None
    )
    if not isinstance(private, rsa.RSAPrivateKey):
        raise TypeError("a SAML SP key is RSA")
    return ActiveKey(
        id=row.id,
        private_key=private,
        certificate=x509.load_pem_x509_certificate(row.certificate_pem.encode()),
        created_at=row.created_at,
    )
