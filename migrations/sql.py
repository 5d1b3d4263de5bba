"""Run a multi-statement SQL script inside the migration's transaction.

asyncpg prepares every statement SQLAlchemy sends, and a prepared statement holds one command;
its plain `execute()` uses the simple query protocol, which takes a whole script.
"""

from __future__ import annotations

from typing import Any

from alembic import op
from sqlalchemy.util import await_only


def run_script(sql: str) -> None:
    raw: Any = op.get_bind().connection.dbapi_connection
    await_only(raw.driver_connection.execute(sql))
