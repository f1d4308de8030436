"""What the operator commands (``app.cli.migrate``, ``app.cli.tenant_data``, ``app.cli.reencrypt``) have
in common: a bad setting, or a database that refuses or cannot be reached (down, wrong host,
unknown role or database), is said in one line and exits 3, as ``app.cli.serve`` does, instead of
a Python traceback. The operator's next step is to fix a variable or the database, not to
read our code. A failure once connected (a failing migration, say) keeps its traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from app.config import configuration_problems

CANNOT_START = 3

logger = logging.getLogger("app.cli.commands")


def reason(error: BaseException) -> str:
    """The driver's own words: SQLAlchemy's wrapper adds the statement and a link."""
    cause = getattr(error, "orig", None) or error
    return str(cause) or type(cause).__name__


def run_command(command: Callable[[], int], *, doing: str) -> int:
    """Run ``command``; its exit status, or 3 with one line saying why it could not run."""
    try:
        return command()
    except ValidationError as error:
        logger.error("cannot %s, invalid configuration: %s", doing, configuration_problems(error))
    except (OSError, DBAPIError) as error:
        if isinstance(error, DBAPIError) and error.statement is not None:
            raise  # connected, then a statement failed: its traceback says where
        logger.error("cannot %s, cannot connect to the database: %s", doing, reason(error))
    return CANNOT_START
