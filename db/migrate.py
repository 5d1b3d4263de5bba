"""Run alembic as the owner role, from code (start-up, `python -m bot migrate`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from db.urls import async_url

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


async def upgrade(owner_url: str, revision: str = "head") -> None:
    await _run(owner_url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade(owner_url: str, revision: str = "base") -> None:
    await _run(owner_url, lambda cfg: command.downgrade(cfg, revision))


async def _run(owner_url: str, action: object) -> None:
    engine = create_async_engine(async_url(owner_url), poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            # Several processes (bot, api, worker roles) may start at once: one migrates, the
            # others wait and then find nothing to do.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext('goodvibe.migrations'))")
            )

            def _sync(sync_conn: Connection) -> None:
                action(alembic_config(sync_conn))  # type: ignore[operator]

            await conn.run_sync(_sync)
    finally:
        await engine.dispose()
