"""The operator commands say why they cannot run in one line, exit 3, and never print a
traceback for a setting or an unreachable database; a statement that fails once connected
keeps its traceback."""

from __future__ import annotations

import asyncio
import sys
from typing import NoReturn

import pytest
from sqlalchemy.exc import IntegrityError

from app.cli.commands import run_command
from app.config import Settings
from tests.conftest import ROOT
from tests.support.refusing_postgres import refusing_postgres


def test_a_command_that_runs_gives_its_own_status() -> None:
    assert run_command(lambda: 1, doing="re-encrypt") == 1


def test_a_bad_setting_is_one_line_naming_the_variable(caplog: pytest.LogCaptureFixture) -> None:
    def bad_setting() -> int:
        Settings(_env_file=None, database_url="mysql://u:hunter2@db/sso")  # type: ignore[call-arg]
        return 0

    assert run_command(bad_setting, doing="export") == 3
    [record] = caplog.records
    assert record.getMessage().startswith(
        "cannot export, invalid configuration: DATABASE_URL: 'mysql' is not supported"
    )
    assert record.exc_info is None
    assert "hunter2" not in caplog.text


def test_a_statement_that_fails_once_connected_keeps_its_traceback() -> None:
    def failing_statement() -> NoReturn:
        raise IntegrityError("INSERT INTO tenants", {}, Exception("duplicate key"))

    with pytest.raises(IntegrityError):
        run_command(failing_statement, doing="migrate")


@pytest.mark.parametrize(
    "command",
    [["app.cli.tenant_data", "export", "jira:site"], ["app.cli.reencrypt"], ["app.cli.migrate"]],
)
async def test_each_command_passes_on_what_the_server_refused(command: list[str]) -> None:
    async with refusing_postgres("3D000", 'database "sso" does not exist') as port:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *command,
            cwd=ROOT,
            env={
                "DATABASE_URL": f"postgresql://portal:hunter2@127.0.0.1:{port}/sso",
                "APP_ENV": "development",
                "PATH": "/usr/bin:/bin",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output = (await asyncio.wait_for(process.communicate(), timeout=60))[0].decode()
    assert process.returncode == 3, output
    assert 'cannot connect to the database: database "sso" does not exist' in output
    assert "Traceback" not in output
    assert "hunter2" not in output
