"""Migrate the database to the newest schema: ``python -m app.migrate``.

This is ``alembic upgrade head`` (which still works) with an operator's messages: a bad
setting, or a database that refuses or cannot be reached (down, wrong host, unknown role or
database), is said in one line and exits 3, as ``app.serve`` does, instead of a Python
traceback. A migration that fails once connected keeps its traceback: it says where.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from app.config import configuration_problems

ALEMBIC_INI = Path(__file__).resolve().parent.parent / "alembic.ini"
CANNOT_MIGRATE = 3

logger = logging.getLogger("app.migrate")


def reason(error: BaseException) -> str:
    """The driver's own words: SQLAlchemy's wrapper adds the statement and a link."""
    cause = getattr(error, "orig", None) or error
    return str(cause) or type(cause).__name__


def main() -> int:
    try:
        command.upgrade(Config(str(ALEMBIC_INI)), "head")
    except ValidationError as error:
        logger.error("cannot migrate, invalid configuration: %s", configuration_problems(error))
        return CANNOT_MIGRATE
    except (OSError, DBAPIError) as error:
        if isinstance(error, DBAPIError) and error.statement is not None:
            raise  # connected, then a migration failed: its traceback says where
        logger.error("cannot migrate, cannot connect to the database: %s", reason(error))
        return CANNOT_MIGRATE
    return 0


if __name__ == "__main__":
    sys.exit(main())
