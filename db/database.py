"""The app's engine and its units of work.

Every transaction states who it runs as: a user (role `gv_user` plus `app.user_id`) or the
system (role `gv_service`). Both are set with `set_config(..., true)`, so they vanish at commit
or rollback and can never leak to the next borrower of a pooled connection.

One more door serves hot paths made of a single statement (a ledger call): `statement()` lends
a connection of a second pool whose connections log in as `gv_service` and never change it,
in autocommit, so the statement is its own transaction and costs one round trip.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db.urls import async_url

USER_ROLE = "gv_user"
SERVICE_ROLE = "gv_service"

_SET_IDENTITY = text(
    "SELECT set_config('role', :role, true), set_config('app.user_id', :user_id, true)"
)


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    statement_engine: AsyncEngine | None = None

    @asynccontextmanager
    async def user(self, user_id: UUID) -> AsyncIterator[AsyncSession]:
        """A transaction that sees and writes only what RLS lets `user_id` see and write."""
        async with self._scoped(USER_ROLE, str(user_id)) as session:
            yield session

    @asynccontextmanager
    async def service(self) -> AsyncIterator[AsyncSession]:
        """A transaction for system work: schedulers, workers, admin, identity resolution."""
        async with self._scoped(SERVICE_ROLE, "") as session:
            yield session

    @asynccontextmanager
    async def _scoped(self, role: str, user_id: str) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session, session.begin():
            await session.execute(_SET_IDENTITY, {"role": role, "user_id": user_id})
            yield session

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """System work that is one statement: it commits by itself, in one round trip."""
        if self.statement_engine is None:
            raise RuntimeError("this Database was built without a statement pool")
        async with self.statement_engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Raises when the database cannot be reached."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.statement_engine is not None:
            await self.statement_engine.dispose()


def create_database(
    app_url: str, *, pool_size: int = 10, application_name: str = "goodvibe"
) -> Database:
    engine = create_async_engine(
        async_url(app_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        connect_args={"server_settings": {"application_name": application_name}},
    )
    statements = create_async_engine(
        async_url(app_url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        isolation_level="AUTOCOMMIT",
        connect_args={
            "server_settings": {"application_name": application_name, "role": SERVICE_ROLE}
        },
    )
    return Database(
        engine=engine,
        sessionmaker=async_sessionmaker(engine, expire_on_commit=False),
        statement_engine=statements,
    )
