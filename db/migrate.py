"""Run alembic from code (start-up, `python -m bot migrate`, tests).

The URL logs in as the migrator (a superuser, or a role with CREATEROLE that owns the
database). It creates the app's roles and sets the database's privileges (`db.roles`), then
runs every migration under `SET ROLE gv_owner`, so everything the migrations create belongs to
that role and not to the migrator.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from db import locks
from db.roles import ENSURE_ROLES, OWNER_ROLE, PREPARE_DATABASE
from db.urls import async_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# Another database of the server creating the same role at the same moment: run again.
_ROLE_ATTEMPTS = 5


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(owner_url: str, revision: str = "head") -> None:
    await _run(owner_url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(owner_url: str, revision: str = "base") -> None:
    await _run(owner_url, lambda cfg: command.downgrade(cfg, revision))


async def prepare(owner_url: str) -> None:
    """Roles and database privileges only: for a database copied from a migrated template."""
    await _run(owner_url, None)


async def _ensure_roles(engine: AsyncEngine) -> None:
    for attempt in range(_ROLE_ATTEMPTS):
        try:
            async with engine.begin() as conn:
                await conn.execute(text(ENSURE_ROLES))
            return
        except DBAPIError:
            if attempt == _ROLE_ATTEMPTS - 1:
                raise


async def _run(owner_url: str, action: object | None) -> None:
    engine = create_async_engine(async_url(owner_url), poolclass=NullPool)
    try:
        await _ensure_roles(engine)
        async with engine.begin() as conn:
            # Several processes (bot, api, worker roles) may start at once: one migrates, the
            # others wait and then find nothing to do.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": locks.MIGRATIONS}
            )
            await conn.execute(text(PREPARE_DATABASE))
            if action is None:
                return
            await conn.execute(text(f"SET LOCAL ROLE {OWNER_ROLE}"))

            def _sync(sync_conn: Connection) -> None:
                action(alembic_config(sync_conn))  # type: ignore[operator]

            await conn.run_sync(_sync)
    finally:
        await engine.dispose()
