"""The identity cache: repeat requests cost no read, and a ban or a profile change made anywhere
holds in every instance within a second (issue 9's condition for caching identity at all)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from db.database import Database
from db.urls import app_url_from_owner, asyncpg_dsn
from services.i18n import Catalog
from services.users import cache as cache_module
from services.users.cache import IdentityCache
from services.users.schemas import Origin, TelegramProfile
from services.users.service import Registration, set_banned, set_language
from tests.api import tma, web_user
from tests.services import make_services, root_app

ADMINS: frozenset[int] = frozenset()
WITHIN = 1.0  # the bound: polled up to this, never asserted as a duration


def profile(telegram_id: int = 700, first_name: str = "Ann") -> TelegramProfile:
    return TelegramProfile(telegram_id=telegram_id, first_name=first_name, language_code="en")


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)


async def listening(cache: IdentityCache) -> IdentityCache:
    await cache.start()

    async def trusted() -> bool:
        return cache.trusted

    assert await eventually(trusted, 10), "the listener never connected"
    return cache


@pytest.fixture
async def caches(owner_url: str) -> AsyncIterator[tuple[IdentityCache, IdentityCache]]:
    """Two instances' caches: each its own listener connection, as two processes have."""
    dsn = asyncpg_dsn(app_url_from_owner(owner_url))
    first = await listening(IdentityCache(dsn, application_name="gv-identity-first"))
    second = await listening(IdentityCache(dsn, application_name="gv-identity-second"))
    yield first, second
    await first.close()
    await second.close()


async def resolve(cache: IdentityCache, db: Database, who: TelegramProfile) -> Registration:
    return await cache.resolve(db, who, admin_ids=ADMINS, origin=Origin.miniapp())


async def test_a_known_user_is_answered_from_memory(
    db: Database, caches: tuple[IdentityCache, IdentityCache]
) -> None:
    cache, _ = caches
    created = await resolve(cache, db, profile())
    assert created.created
    first = (await resolve(cache, db, profile())).user
    assert (await resolve(cache, db, profile())).user is first  # no read: the same object
    # A changed profile is not served stale: it is written, and the new row comes back.
    renamed = (await resolve(cache, db, profile(first_name="Anna"))).user
    assert renamed.first_name == "Anna"


async def test_a_ban_in_one_instance_holds_in_the_other_within_a_second(
    db: Database, caches: tuple[IdentityCache, IdentityCache]
) -> None:
    first, second = caches
    user = (await resolve(first, db, profile())).user
    for cache in caches:
        await resolve(cache, db, profile())
        assert (await resolve(cache, db, profile())).user.banned_at is None
    async with db.service() as session:  # the ban, made by neither cache
        await set_banned(session, user.id, True)

    for cache in (second, first):

        async def banned(cache: IdentityCache = cache) -> bool:
            return (await resolve(cache, db, profile())).user.banned_at is not None

        assert await eventually(banned, WITHIN)


async def test_a_profile_change_holds_everywhere_within_a_second(
    db: Database, caches: tuple[IdentityCache, IdentityCache]
) -> None:
    user = (await resolve(caches[0], db, profile())).user
    for cache in caches:
        await resolve(cache, db, profile())
    async with db.user(user.id) as session:  # the user's own transaction, under RLS
        await set_language(session, user.id, "ru")
    for cache in caches:

        async def changed(cache: IdentityCache = cache) -> bool:
            return (await resolve(cache, db, profile())).user.language == "ru"

        assert await eventually(changed, WITHIN)


async def test_a_read_that_raced_a_change_is_not_remembered(
    db: Database,
    caches: tuple[IdentityCache, IdentityCache],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The row read before a ban committed, whose eviction arrived before the read was stored,
    must not be stored after it: the cache would then serve the unbanned row indefinitely."""
    cache, _ = caches
    user = (await resolve(cache, db, profile())).user
    real = cache_module.resolve_telegram_user

    async def read_then_ban(*args: Any, **kwargs: Any) -> Registration:
        registration = await real(*args, **kwargs)
        async with db.service() as session:
            await set_banned(session, user.id, True)

        async def evicted() -> bool:
            return user.telegram_id in cache._changed

        assert await eventually(evicted, 10)
        return registration

    cache._forget()  # so the next call reads
    await listening(cache)
    monkeypatch.setattr(cache_module, "resolve_telegram_user", read_then_ban)
    stale = await resolve(cache, db, profile())
    monkeypatch.setattr(cache_module, "resolve_telegram_user", real)
    assert stale.user.banned_at is None  # what the read saw
    assert len(cache) == 0
    assert (await resolve(cache, db, profile())).user.banned_at is not None


async def test_a_change_to_someone_else_does_not_stop_a_read_being_remembered(
    db: Database,
    caches: tuple[IdentityCache, IdentityCache],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache, _ = caches
    other = (await resolve(cache, db, profile(701))).user
    await resolve(cache, db, profile(701))
    await resolve(cache, db, profile(702))
    cache._forget()
    await listening(cache)
    await resolve(cache, db, profile(701))  # cached again
    real = cache_module.resolve_telegram_user

    async def read_while_other_is_banned(*args: Any, **kwargs: Any) -> Registration:
        registration = await real(*args, **kwargs)
        async with db.service() as session:
            await set_banned(session, other.id, True)

        async def evicted() -> bool:
            return len(cache) == 0

        assert await eventually(evicted, 10)
        return registration

    monkeypatch.setattr(cache_module, "resolve_telegram_user", read_while_other_is_banned)
    read = (await resolve(cache, db, profile(702))).user
    monkeypatch.setattr(cache_module, "resolve_telegram_user", real)
    assert len(cache) == 1
    assert (await resolve(cache, db, profile(702))).user is read


async def test_a_lost_listener_never_serves_a_stale_ban(
    db: Database, owner_url: str, caches: tuple[IdentityCache, IdentityCache]
) -> None:
    cache, _ = caches
    user = (await resolve(cache, db, profile())).user
    await resolve(cache, db, profile())
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        # The listener's connection dies (a server restart, a network cut): it is not told.
        await owner.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = 'gv-identity-first'"
        )
    finally:
        await owner.close()
    async with db.service() as session:
        await set_banned(session, user.id, True)

    async def banned() -> bool:
        return (await resolve(cache, db, profile())).user.banned_at is not None

    assert await eventually(banned, WITHIN)
    await listening(cache)  # it reconnects, empty, and caches again
    assert (await resolve(cache, db, profile())).user.banned_at is not None


async def test_without_a_listener_every_call_reads(db: Database) -> None:
    cache = IdentityCache()  # no DSN: never trusted
    user = (await resolve(cache, db, profile())).user
    await resolve(cache, db, profile())
    async with db.service() as session:
        await set_banned(session, user.id, True)
    assert (await resolve(cache, db, profile())).user.banned_at is not None
    assert len(cache) == 0


async def test_the_api_refuses_a_user_banned_elsewhere_within_a_second(
    db: Database, catalog: Catalog, owner_url: str
) -> None:
    identity = await listening(IdentityCache(asyncpg_dsn(app_url_from_owner(owner_url))))
    app = root_app(make_services(db, catalog, identity=identity))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        headers = tma(web_user(704))
        for _ in range(2):
            assert (await client.get("/api/v1/me", headers=headers)).status == 200
        assert len(identity) == 1
        async with db.service() as session:
            await session.execute(
                text("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 704")
            )

        async def refused() -> bool:
            response = await client.get("/api/v1/me", headers=headers)
            return response.status == 403 and (await response.json())["error"]["code"] == (
                "user_banned"
            )

        assert await eventually(refused, WITHIN)
    finally:
        await client.close()
        await identity.close()


async def test_a_cached_recipient_is_found_and_a_ban_or_rename_holds_within_a_second(
    db: Database, caches: tuple[IdentityCache, IdentityCache]
) -> None:
    """`find` (a P2P send's recipient) answers from the same entries, kept by the same
    notifications: a banned, renamed or deleted recipient stops being found from memory."""
    first, second = caches
    bob = TelegramProfile(telegram_id=701, first_name="Bob", username="Bob_1", language_code="en")
    user = (await resolve(first, db, bob)).user
    await resolve(second, db, bob)
    for cache in caches:
        assert cache.find("telegram_id", 701) is not None
        assert cache.find("username", "bob_1") is not None
        assert cache.find("id", user.id) is not None
        assert cache.find("username", "nobody") is None
        assert cache.find("telegram_id", 702) is None
    async with db.service() as session:
        await set_banned(session, user.id, True)
    for cache in caches:

        async def refreshed(cache: IdentityCache = cache) -> bool:
            return cache.find("telegram_id", 701) is None

        assert await eventually(refreshed, WITHIN)
        # Gone from every index at once, so a stale username never answers.
        assert cache.find("username", "bob_1") is None and cache.find("id", user.id) is None
    renamed = TelegramProfile(
        telegram_id=701, first_name="Bob", username="bob_2", language_code="en"
    )
    assert (await resolve(first, db, renamed)).user.banned_at is not None

    async def cached_again() -> bool:
        # The rename's own notification keeps the read that wrote it from being remembered.
        await resolve(first, db, renamed)
        return first.find("username", "bob_2") is not None

    assert await eventually(cached_again, WITHIN)
    assert first.find("username", "bob_1") is None
    await first.close()  # a cache that cannot vouch for its entries finds nothing
    assert first.find("telegram_id", 701) is None
