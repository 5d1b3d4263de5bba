"""The app's engines and its units of work.

Every transaction states who it runs as, and runs on a login that can be nothing else:

- `user(user_id)`: the `gv_app_user` login, which may only become `gv_user`, plus a claim
  `app.user_claim = '<uuid>.<HMAC>'` that `auth.current_user_id()` checks against a key the
  user role cannot read. SQL inside a user transaction can neither switch to the service
  role nor claim another user.
- `service()`: the `gv_app` login as `gv_service`, for schedulers, workers, admin and identity
  resolution.

Both are set with `set_config(..., true)`, so they vanish at commit or rollback and can never
leak to the next borrower of a pooled connection.

One more door serves hot paths made of a single statement (a ledger call): `statement()` lends
a connection of a third pool whose connections log in as `gv_app` with the role `gv_service`
and never change it, in autocommit, so the statement is its own transaction and costs one
round trip.

`ping()` (the health check) is one `SELECT 1` on an asyncpg pool of its own (opened on demand,
up to `pool_size` connections), logged in as the service login: through SQLAlchemy it cost
three round trips (`engine.connect()` wraps it in BEGIN and ROLLBACK) and several times the
CPU.

The two kinds of transaction have distinct types, `UserTx` and `ServiceTx`, each the session
class of its own pool: a service function names the one it needs, and mypy refuses a user
transaction where system rights are needed, or a service transaction where a user's own data is
read through RLS. Neither is a subtype of the other; `AnyTx` is for work either may do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from uuid import UUID

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db.roles import SERVICE_ROLE, USER_ROLE
from db.urls import async_url, asyncpg_dsn, user_url_from_app

_AS_USER = text(
    "SELECT set_config('role', :role, true), set_config('app.user_claim', :claim, true)"
)
_AS_SERVICE = text("SELECT set_config('role', :role, true)")
_IDENTITY_KEY = text("SELECT key FROM auth.identity_key")


class UserTx(AsyncSession):
    """A transaction from `Database.user()`: the role `gv_user`, one user's claim, RLS in force."""


class ServiceTx(AsyncSession):
    """A transaction from `Database.service()`: the role `gv_service`, for system work."""


# Work that is the same under either role (reading the asset table, say).
AnyTx = UserTx | ServiceTx


def user_claim(key: bytes, user_id: UUID) -> str:
    """The claim `auth.current_user_id()` accepts for `user_id`: the id and its HMAC-SHA256."""
    subject = str(user_id)
    return f"{subject}.{hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()}"


@dataclass
class _IdentityKey:
    """The claim key, read once through the service login on first use."""

    value: bytes | None = None


async def _nothing_to_reset(connection: asyncpg.Connection) -> None:
    """`SELECT 1` leaves nothing in the session: asyncpg's default reset on release is one more
    round trip (`pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`)."""


@dataclass
class _PingPool:
    """An asyncpg pool made on first use (it needs the running loop) for `ping()`."""

    dsn: str | None = None
    application_name: str = "goodvibe"
    size: int = 10
    pool: asyncpg.Pool | None = None
    opening: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self) -> asyncpg.Pool:
        async with self.opening:
            if self.pool is None:
                # min_size=0: making the pool connects nothing, so an unreachable server
                # fails each ping afresh rather than leaving a broken pool behind.
                self.pool = await asyncpg.create_pool(
                    self.dsn,
                    min_size=0,
                    max_size=self.size,
                    reset=_nothing_to_reset,
                    server_settings={"application_name": self.application_name},
                )
            return self.pool


@dataclass(frozen=True)
class Database:
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[ServiceTx]
    statement_engine: AsyncEngine | None = None
    user_engine: AsyncEngine | None = None
    user_sessionmaker: async_sessionmaker[UserTx] | None = None
    _key: _IdentityKey = field(default_factory=_IdentityKey, repr=False)
    _ping: _PingPool = field(default_factory=_PingPool, repr=False)

    @asynccontextmanager
    async def user(self, user_id: UUID) -> AsyncIterator[UserTx]:
        """A transaction that sees and writes only what RLS lets `user_id` see and write."""
        if self.user_sessionmaker is None:
            raise RuntimeError("this Database was built without a user pool")
        claim = user_claim(await self._identity_key(), user_id)
        async with self.user_sessionmaker() as session, session.begin():
            await session.execute(_AS_USER, {"role": USER_ROLE, "claim": claim})
            yield session

    @asynccontextmanager
    async def service(self) -> AsyncIterator[ServiceTx]:
        """A transaction for system work: schedulers, workers, admin, identity resolution."""
        async with self.sessionmaker() as session, session.begin():
            await session.execute(_AS_SERVICE, {"role": SERVICE_ROLE})
            yield session

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """System work that is one statement: it commits by itself, in one round trip."""
        if self.statement_engine is None:
            raise RuntimeError("this Database was built without a statement pool")
        async with self.statement_engine.connect() as conn:
            yield conn

    async def _identity_key(self) -> bytes:
        if self._key.value is None:
            async with self.service() as session:
                self._key.value = bytes((await session.execute(_IDENTITY_KEY)).scalar_one())
        return self._key.value

    async def ping(self) -> None:
        """Raises when the database cannot be reached."""
        if self._ping.dsn is None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return
        pool = self._ping.pool or await self._ping.get()
        await pool.fetchval("SELECT 1")

    async def dispose(self) -> None:
        if self._ping.pool is not None:
            await self._ping.pool.close()
        await self.engine.dispose()
        if self.statement_engine is not None:
            await self.statement_engine.dispose()
        if self.user_engine is not None:
            await self.user_engine.dispose()


def create_database(
    app_url: str,
    *,
    user_url: str | None = None,
    pool_size: int = 10,
    application_name: str = "goodvibe",
) -> Database:
    """`app_url` logs in as the service login (`gv_app`); `user_url` as the user login, by
    default `app_url` with the user `gv_app_user` and no password."""

    def engine(url: str) -> AsyncEngine:
        return create_async_engine(
            async_url(url),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=False,
            connect_args={"server_settings": {"application_name": application_name}},
        )

    service = engine(app_url)
    users = engine(user_url or user_url_from_app(app_url))
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
        engine=service,
        sessionmaker=async_sessionmaker(service, class_=ServiceTx, expire_on_commit=False),
        statement_engine=statements,
        user_engine=users,
        user_sessionmaker=async_sessionmaker(users, class_=UserTx, expire_on_commit=False),
        _ping=_PingPool(asyncpg_dsn(app_url), application_name, pool_size),
    )
