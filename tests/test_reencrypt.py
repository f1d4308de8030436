"""Retiring an encryption key: every stored secret re-encrypted under the first key."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli.reencrypt import reencrypt_secrets, run, secret_columns
from app.crypto import SecretBox, SecretBoxError
from app.models import IdentityProvider, Tenant
from tests.conftest import InstalledTenant


async def stored_secrets(session: async_sessionmaker[AsyncSession]) -> list[str]:
    values = []
    async with session() as s:
        for _table, column in secret_columns():
            values += [v for v in (await s.scalars(select(column))).all() if v is not None]
    return values


def test_every_encrypted_column_is_found() -> None:
    assert {f"{t.name}.{c.name}" for t, c in secret_columns()} == {
        "tenants.shared_secret_encrypted",
        "tenants.app_token_encrypted",
        "identity_providers.client_secret_encrypted",
        "login_states.code_verifier_encrypted",
        "portal_sessions.id_token_encrypted",
        "tenant_settings.service_account_token_encrypted",
        "saml_sp_keys.private_key_encrypted",
    }


@pytest.mark.usefixtures("idp")
async def test_after_reencryption_the_old_key_can_be_dropped(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession], encryption_key: str
) -> None:
    before = await stored_secrets(session)
    assert len(before) == 2  # the tenant's shared secret, the IdP's client secret
    new = Fernet.generate_key().decode()
    outcome = await reencrypt_secrets(session, SecretBox([new, encryption_key]), batch_size=1)
    assert outcome.reencrypted["tenants.shared_secret_encrypted"] == 1
    assert outcome.reencrypted["identity_providers.client_secret_encrypted"] == 1
    assert outcome.undecryptable == {}

    only_new, only_old = SecretBox([new]), SecretBox([encryption_key])
    after = await stored_secrets(session)
    assert sorted(only_new.decrypt(v) for v in after) == sorted(only_old.decrypt(v) for v in before)
    for value in after:
        with pytest.raises(SecretBoxError):
            only_old.decrypt(value)


async def test_many_rows_are_walked_in_batches(
    tenant: InstalledTenant, session: async_sessionmaker[AsyncSession], encryption_key: str
) -> None:
    old = SecretBox([encryption_key])
    async with session() as s:
        for n in range(7):
            s.add(
                IdentityProvider(
                    id=f"idp{n:02d}",
                    tenant_id=tenant.tenant_id,
                    name=f"IdP {n}",
                    preset="oidc",
                    client_id="c",
                    client_secret_encrypted=old.encrypt(f"secret-{n}"),
                    settings={},
                )
            )
        await s.commit()
    new = Fernet.generate_key().decode()
    outcome = await reencrypt_secrets(session, SecretBox([new, encryption_key]), batch_size=3)
    assert outcome.reencrypted["identity_providers.client_secret_encrypted"] == 7
    async with session() as s:
        secrets = (await s.scalars(select(IdentityProvider.client_secret_encrypted))).all()
    assert sorted(SecretBox([new]).decrypt(str(v)) for v in secrets) == [
        f"secret-{n}" for n in range(7)
    ]


async def test_a_secret_no_key_decrypts_is_reported_and_left_alone(
    tenant: InstalledTenant,
    session: async_sessionmaker[AsyncSession],
    encryption_key: str,
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    foreign = SecretBox([Fernet.generate_key().decode()]).encrypt("written under a lost key")
    async with session() as s:
        await s.execute(
            update(Tenant)
            .where(Tenant.id == tenant.tenant_id)
            .values(shared_secret_encrypted=foreign)
        )
        await s.commit()
    settings: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "ENCRYPTION_KEYS": f"{Fernet.generate_key().decode()},{encryption_key}",
        "APP_ENV": "development",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    assert await run() == 1
    assert "tenants.shared_secret_encrypted: 1 not decryptable" in capsys.readouterr().err
    async with session() as s:
        assert await s.scalar(select(Tenant.shared_secret_encrypted)) == foreign
