"""`python -m bench.http.counted [args of python -m bot]`: the platform, its queries counted.

Wraps asyncpg's three ways of sending a statement (`Connection.execute` for simple queries
such as BEGIN/COMMIT, `Connection._execute` for `fetch*` on a connection, a prepared
statement's bind-and-execute for SQLAlchemy's path), then runs `python -m bot` unchanged.
On SIGUSR1 it writes every statement sent so far (its first words, in order) as JSON to
BENCH_QUERIES_FILE. Each is one round trip to PostgreSQL.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg.connection
import asyncpg.prepared_stmt

SENT: list[str] = []


def _head(query: object) -> str:
    return " ".join(str(query).split()[:6])[:80]


def _wrap(cls: type, name: str, query_of: Callable[[Any, tuple[Any, ...]], object]) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(cls, name)

    async def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        SENT.append(_head(query_of(self, args)))
        return await original(self, *args, **kwargs)

    setattr(cls, name, counted)


def _dump(signum: int, frame: FrameType | None) -> None:
    target = Path(os.environ["BENCH_QUERIES_FILE"])
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(SENT))
    partial.replace(target)  # the reader never sees half a file


def main() -> None:
    _wrap(asyncpg.connection.Connection, "execute", lambda self, args: args[0])
    _wrap(asyncpg.connection.Connection, "_execute", lambda self, args: args[0])
    _wrap(
        asyncpg.prepared_stmt.PreparedStatement,
        "_PreparedStatement__bind_execute",
        lambda self, args: self.get_query(),
    )
    signal.signal(signal.SIGUSR1, _dump)
    sys.argv = ["bot", *sys.argv[1:]]
    runpy.run_module("bot", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
