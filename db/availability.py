"""Whether an error means the database could not be reached, rather than a refused statement.

The batcher retries such errors on a fresh connection; the API answers them 503 (the client
may retry) instead of 500 (a bug): they say nothing about the request.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# Class 08: connection exceptions; 53300: too many connections; 57P01-57P03: the server shuts
# down, restarts or is starting.
_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})


def database_unavailable(error: BaseException) -> bool:
    """True for a lost or refused connection and for an exhausted pool, wherever SQLAlchemy
    wrapped it (the driver's error is the wrapper's `orig` or its cause)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | asyncpg.ConnectionDoesNotExistError | PoolTimeout):
            return True
        state = str(getattr(current, "sqlstate", "") or "")
        if state.startswith("08") or state in _UNAVAILABLE_STATES:
            return True
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False
