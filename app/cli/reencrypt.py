"""Operator command: re-encrypt every stored secret with the first of ENCRYPTION_KEYS, so that
an old key can be retired.

    ENCRYPTION_KEYS=new,old   (on every instance, then)
    python -m app.cli.reencrypt
    ENCRYPTION_KEYS=new       (once it reports no secret left undecryptable)

Safe while the service runs (a row changed meanwhile is left as the service wrote it: already
under the new key) and safe to repeat. Secrets that no configured key decrypts are counted
and left alone; the command then exits with status 1.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field

from sqlalchemy import Column, Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli.commands import run_command
from app.config import Settings
from app.crypto import SecretBox, SecretBoxError
from app.db import create_engine, create_sessionmaker
from app.models import Base

BATCH_SIZE = 500


@dataclass
class Outcome:
    reencrypted: dict[str, int] = field(default_factory=dict)
    undecryptable: dict[str, int] = field(default_factory=dict)


def secret_columns() -> list[tuple[Table, Column[str]]]:
    """Every column that holds a secret (by the ``*_encrypted`` naming rule)."""
    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if column.name.endswith("_encrypted"):
                found.append((table, column))
    return found


async def reencrypt_secrets(
    sessionmaker: async_sessionmaker[AsyncSession], box: SecretBox, *, batch_size: int = BATCH_SIZE
) -> Outcome:
    """Each batch in its own transaction, walking the primary key (bounded memory, and short
    write transactions beside a running service)."""
    outcome = Outcome()
    for table, column in secret_columns():
        [key] = table.primary_key.columns
        name = f"{table.name}.{column.name}"
        done = failed = 0
        last = None
        while True:
            # Empty: nothing was encrypted (a SAML flow state has no code verifier).
            query = (
                select(key, column)
                .where(column.is_not(None), column != "")
                .order_by(key)
                .limit(batch_size)
            )
            if last is not None:
                query = query.where(key > last)
            async with sessionmaker() as session:
                rows = (await session.execute(query)).all()
                for row_key, ciphertext in rows:
                    try:
                        fresh = box.rotate(ciphertext)
                    except SecretBoxError:
                        failed += 1
                        continue
                    changed = await session.execute(
                        update(table)
                        .where(key == row_key, column == ciphertext)
                        .values({column.name: fresh})
                    )
                    done += changed.rowcount  # type: ignore[attr-defined]
                await session.commit()
            if len(rows) < batch_size:
                break
            last = rows[-1][0]
        outcome.reencrypted[name] = done
        if failed:
            outcome.undecryptable[name] = failed
    return outcome


async def run() -> int:
    settings = Settings()
    engine = create_engine(settings.database_url)
    try:
        outcome = await reencrypt_secrets(
            create_sessionmaker(engine), SecretBox(settings.effective_encryption_keys())
        )
    finally:
        await engine.dispose()
    for name, count in outcome.reencrypted.items():
        print(f"{name}: {count} re-encrypted", file=sys.stderr)
    for name, count in outcome.undecryptable.items():
        print(
            f"{name}: {count} not decryptable with ENCRYPTION_KEYS (add the key that wrote them)",
            file=sys.stderr,
        )
    return 1 if outcome.undecryptable else 0


if __name__ == "__main__":
    logging.basicConfig(format="%(levelname)s %(message)s")
    sys.exit(run_command(lambda: asyncio.run(run()), doing="re-encrypt"))
