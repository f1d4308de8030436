"""Migrate the database to the newest schema: ``python -m app.cli.migrate``.

This is ``alembic upgrade head`` (which still works), with the operator commands' errors
(``app.cli.commands``): a bad setting or an unreachable database in one line, exit status 3.
"""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from app.cli.commands import run_command

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def upgrade() -> int:
    # Alembic's env.py sets up logging from alembic.ini, ours included.
    command.upgrade(Config(str(ALEMBIC_INI)), "head")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(upgrade, doing="migrate"))
