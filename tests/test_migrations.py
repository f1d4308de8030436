"""Migrations are the only way the schema is made: up, down to nothing, up again, and the
result matches the models, on the database the suite runs against (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import Base
from tests.conftest import alembic_config


def _schema_state(url: str) -> tuple[set[str], list[Any]]:
    def read(connection: Connection) -> tuple[set[str], list[Any]]:
        tables = set(inspect(connection).get_table_names())
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        return tables, diff

    async def run() -> tuple[set[str], list[Any]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def test_upgrade_downgrade_upgrade_round_trip(database_url: str) -> None:
    config = alembic_config(database_url)
    command.downgrade(config, "base")
    tables, _ = _schema_state(database_url)
    assert tables <= {"alembic_version"}
    command.upgrade(config, "head")
    tables, diff = _schema_state(database_url)
    assert {table.name for table in Base.metadata.sorted_tables} <= tables
    assert diff == [], "models and migrations disagree"
