"""Migrations are the only way the schema is made: up, down to nothing, up again, and the
result matches the models, on the database the suite runs against (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.models import Base
from tests.conftest import ROOT, alembic_config


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


async def migrate(database_url: str) -> subprocess.CompletedProcess[str]:
    """``python -m app.cli.migrate``, as the container and ``make run`` call it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.migrate",
        cwd=ROOT,
        env={"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    return subprocess.CompletedProcess([], process.returncode or 0, output.decode())


async def test_migrate_makes_a_fresh_sqlite_database_and_is_then_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'sso.db'}"
    first = await migrate(url)
    assert first.returncode == 0, first.stdout
    assert "Running upgrade" in first.stdout
    again = await migrate(url)
    assert again.returncode == 0, again.stdout
    assert "Running upgrade" not in again.stdout


@pytest.mark.parametrize(
    ("database_url", "reason"),
    [
        (
            "mysql://u:hunter2@db/sso",
            "cannot migrate, invalid configuration: DATABASE_URL: 'mysql' is not supported",
        ),
        (
            "postgresql://u:hunter2@127.0.0.1:1/sso",
            "cannot migrate, cannot connect to the database",
        ),
    ],
    ids=["unsupported-url", "nothing-listening"],
)
async def test_migrate_says_why_it_cannot_in_one_line(database_url: str, reason: str) -> None:
    result = await migrate(database_url)
    assert result.returncode == 3
    assert reason in result.stdout
    assert "Traceback" not in result.stdout
    assert "hunter2" not in result.stdout
