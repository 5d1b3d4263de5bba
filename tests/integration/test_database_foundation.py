from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from db import locks
from db.database import Database, ServiceTx, UserTx
from db.migrate import downgrade, upgrade
from db.models import User
from db.urls import asyncpg_dsn
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram


async def _register(db: Database, telegram_id: int, **fields: object) -> User:
    async with db.service() as session:
        return (
            await upsert_from_telegram(
                session,
                TelegramProfile(telegram_id=telegram_id, **fields),
                admin_ids=frozenset(),
                origin=Origin.bot(),
            )
        ).user  # type: ignore[arg-type]


async def test_migrations_upgrade_downgrade_upgrade(owner_url: str) -> None:
    await downgrade(owner_url, "base")
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM pg_namespace WHERE nspname IN ('auth', 'ops')"
            )
            == 0
        )
    finally:
        await conn.close()
    await upgrade(owner_url)
    await downgrade(owner_url, "base")
    await upgrade(owner_url)


async def test_app_login_roles_own_nothing_and_cannot_bypass_rls(db: Database) -> None:
    assert db.user_engine is not None
    for engine, login in ((db.engine, "gv_app"), (db.user_engine, "gv_app_user")):
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT rolname, rolsuper, rolbypassrls, rolinherit,"
                        " (SELECT count(*) FROM pg_class WHERE relowner = r.oid) AS owned"
                        " FROM pg_roles r WHERE rolname = current_user"
                    )
                )
            ).one()
        assert row == (login, False, False, False, 0)


async def test_without_a_scope_the_app_roles_see_nothing(db: Database) -> None:
    await _register(db, 1)
    assert db.user_engine is not None
    for engine in (db.engine, db.user_engine):
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError, match="permission denied"):
                await conn.execute(text("SELECT * FROM auth.users"))


async def test_user_scope_sees_only_own_rows_and_cannot_write_others(db: Database) -> None:
    ann = await _register(db, 11, first_name="Ann")
    bob = await _register(db, 12, first_name="Bob")
    async with db.user(ann.id) as session:
        rows = (await session.execute(text("SELECT id FROM auth.users"))).scalars().all()
        assert rows == [ann.id]
        result = await session.execute(
            text("UPDATE auth.users SET language = 'ru' WHERE id = :id"), {"id": bob.id}
        )
        assert result.rowcount == 0  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.user(ann.id) as session:
            await session.execute(
                text("UPDATE auth.users SET role = 'admin' WHERE id = :id"), {"id": ann.id}
            )
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.user(ann.id) as session:
            await session.execute(text("DELETE FROM auth.users"))
    async with db.service() as session:
        assert await session.scalar(text("SELECT count(*) FROM auth.users")) == 2


async def test_identity_is_transaction_local_and_does_not_leak_through_the_pool(
    db: Database,
) -> None:
    ann = await _register(db, 21)
    async with db.user(ann.id) as session:
        assert await session.scalar(text("SELECT auth.current_user_id()")) == ann.id
    assert db.user_sessionmaker is not None
    async with db.user_sessionmaker() as session:
        role = await session.scalar(text("SELECT current_user"))
        leaked = await session.scalar(text("SELECT current_setting('app.user_claim', true)"))
    assert role == "gv_app_user" and not leaked
    async with db.service() as session:
        assert await session.scalar(text("SELECT auth.current_user_id()")) is None


async def test_each_unit_of_work_has_the_type_of_who_it_runs_as(db: Database) -> None:
    """`db.user()` yields a `UserTx`, `db.service()` a `ServiceTx`, and neither is the other."""
    ann = await _register(db, 22)
    async with db.user(ann.id) as user_tx:
        assert type(user_tx) is UserTx
        assert await user_tx.scalar(text("SELECT current_user")) == "gv_user"
    async with db.service() as service_tx:
        assert type(service_tx) is ServiceTx
        assert await service_tx.scalar(text("SELECT current_user")) == "gv_service"
    assert not issubclass(UserTx, ServiceTx) and not issubclass(ServiceTx, UserTx)


async def test_upsert_writes_nothing_when_nothing_changed(db: Database) -> None:
    first = await _register(db, 31, first_name="Ann", username="ann")
    async with db.service() as session:
        xmin_before = await session.scalar(
            text("SELECT xmin::text FROM auth.users WHERE id = :id"), {"id": first.id}
        )
    again = await _register(db, 31, first_name="Ann", username="ann")
    async with db.service() as session:
        xmin_after = await session.scalar(
            text("SELECT xmin::text FROM auth.users WHERE id = :id"), {"id": first.id}
        )
    assert again.id == first.id and xmin_after == xmin_before
    renamed = await _register(db, 31, first_name="Anna", username="ann")
    assert renamed.first_name == "Anna" and renamed.updated_at > first.updated_at


async def test_concurrent_first_contacts_create_one_user(db: Database) -> None:
    import asyncio

    users = await asyncio.gather(*(_register(db, 41, first_name="Ann") for _ in range(10)))
    assert len({u.id for u in users}) == 1
    async with db.service() as session:
        assert len((await session.execute(select(User).where(User.telegram_id == 41))).all()) == 1


async def test_referral_codes_are_unique_and_url_safe(db: Database) -> None:
    users = [await _register(db, 100 + i) for i in range(50)]
    codes = {u.referral_code for u in users}
    assert len(codes) == 50
    assert all(len(c) == 8 and c.replace("-", "").replace("_", "").isalnum() for c in codes)


async def test_concurrent_migrations_serialise(owner_url: str) -> None:
    import asyncio

    await downgrade(owner_url, "base")
    await asyncio.gather(*(upgrade(owner_url) for _ in range(3)))
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM alembic_version") == 1
    finally:
        await conn.close()


async def test_a_migration_waits_for_the_lock_older_versions_took(owner_url: str) -> None:
    """db.locks.MIGRATIONS is the key earlier versions computed in SQL, so an older process
    starting beside a newer one still migrates one after the other with it.
    """
    import asyncio

    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert await conn.fetchval("SELECT hashtext('goodvibe.migrations')") == locks.MIGRATIONS
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('goodvibe.migrations'))")
            waiting = asyncio.create_task(upgrade(owner_url))
            await asyncio.sleep(0.5)
            assert not waiting.done()
        await asyncio.wait_for(waiting, 30)
    finally:
        await conn.close()


async def test_resolving_a_known_unchanged_person_reads_once_and_writes_nothing(
    db: Database,
) -> None:
    from services.users.service import resolve_telegram_user

    profile = TelegramProfile(telegram_id=51, first_name="Ann")
    first = await resolve_telegram_user(db, profile, admin_ids=frozenset(), origin=Origin.miniapp())
    assert first.created
    async with db.service() as session:
        xmin = await session.scalar(
            text("SELECT xmin::text FROM auth.users WHERE id = :id"), {"id": first.user.id}
        )
    again = await resolve_telegram_user(db, profile, admin_ids=frozenset(), origin=Origin.miniapp())
    assert not again.created and again.user.id == first.user.id and again.user.first_name == "Ann"
    async with db.service() as session:
        assert (
            await session.scalar(
                text("SELECT xmin::text FROM auth.users WHERE id = :id"), {"id": first.user.id}
            )
            == xmin
        )
    promoted = await resolve_telegram_user(
        db, profile, admin_ids=frozenset({51}), origin=Origin.miniapp()
    )
    assert promoted.user.role == "admin"
    renamed = await resolve_telegram_user(
        db,
        profile.model_copy(update={"first_name": "Anna"}),
        admin_ids=frozenset({51}),
        origin=Origin.miniapp(),
    )
    assert renamed.user.first_name == "Anna"
