"""Promo codes under real concurrent connections: never more credits than uses or budget."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest
from sqlalchemy import text

from db.database import Database
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from services.errors import DomainError, RateLimited
from services.ledger.errors import AdminOnly
from services.ledger.service import AssetRegistry
from services.promo import service
from services.promo.batcher import RedemptionBatcher
from services.promo.errors import InvalidPromoTerms, PromoCodeTaken, PromoUnavailable
from services.promo.schemas import Promo
from services.promo.usecase import Promos
from services.ratelimit.limiter import MemoryWindows, RateLimiter
from services.users.service import set_banned
from tests.ledger_helpers import available, make_user
from tests.pg import owner_connection, waiting_on_locks


async def make_admin(db: Database) -> User:
    user = await make_user(db)
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET role = 'admin' WHERE id = :id"), {"id": user.id}
        )
    user.role = "admin"
    return user


def promos(db: Database, *, batched: bool = False, **limits: RateLimiter) -> Promos:
    """`batched`: redemptions through the RedemptionBatcher, as the composition root wires them."""
    return Promos(
        db,
        AssetRegistry(),
        user_limit=limits.get("user"),
        ip_limit=limits.get("ip"),
        batcher=RedemptionBatcher(db) if batched else None,
    )


async def attempt(promo: Promos, user: User, code: str) -> str:
    try:
        await promo.redeem(user=user, code=code)
    except DomainError as error:
        return error.code
    return "ok"


async def held_budget(db: Database, promo: Promo) -> int:
    """What the ledger still holds for the code: its budget holds not yet voided."""
    async with db.service() as session:
        held = await session.scalar(
            text(
                """
                SELECT coalesce(sum(h.amount), 0) FROM tokens.transfers h
                WHERE h.kind = 'pending' AND h.code = 'promo_budget' AND h.result = 'ok'
                  AND h.metadata->>'promo_id' = :id
                  AND NOT EXISTS (SELECT FROM tokens.transfers r
                                  WHERE r.pending_id = h.id AND r.result = 'ok')
                """
            ),
            {"id": str(promo.id)},
        )
    return int(held)


async def paid_from_promo_accounts(db: Database) -> int:
    async with db.service() as session:
        paid = await session.scalar(
            text(
                "SELECT coalesce(sum(debits_posted), 0) FROM tokens.accounts "
                "WHERE address LIKE 'system:promo%'"
            )
        )
    return int(paid)


@pytest.mark.parametrize("batched", [False, True])
async def test_two_hundred_redemptions_of_a_fifty_use_code_credit_fifty(
    db: Database, batched: bool
) -> None:
    admin = await make_admin(db)
    p = promos(db, batched=batched)
    created = await p.create(admin=admin, code="spring50", asset="VIBE", amount=3, max_uses=50)
    assert created.budget == 150 and await held_budget(db, created) == 150
    users = [await make_user(db) for _ in range(200)]
    before = {u.id: await available(db, u.id) for u in users}
    results = await asyncio.gather(*(attempt(p, u, "SPRING50") for u in users))
    if p.batcher is not None:  # the race went through shared statements
        assert p.batcher.batched > 100, (p.batcher.batched, p.batcher.alone)
    assert results.count("ok") == 50
    assert results.count("promo_unavailable") == 150
    credited = [u for u in users if await available(db, u.id) == before[u.id] + 3]
    assert len(credited) == 50
    promo, rows = await p.stats(admin=admin, code="spring50")
    assert (promo.used, promo.paid) == (50, 150)
    assert sorted(r.use_number for r in rows) == list(range(1, 51))
    assert {r.user_id for r in rows} == {u.id for u in credited}
    # Budget exact: paid out plus still held is the budget, and nothing is held any more.
    assert await held_budget(db, promo) == 0
    assert await paid_from_promo_accounts(db) == 150


@pytest.mark.parametrize("batched", [False, True])
async def test_one_user_racing_a_once_per_user_code_gets_one_credit(
    db: Database, batched: bool
) -> None:
    admin = await make_admin(db)
    p = promos(db, batched=batched)
    await p.create(admin=admin, code="ONCE", asset="VIBE", amount=5, max_uses=100)
    ann = await make_user(db)
    start = await available(db, ann.id)
    results = await asyncio.gather(*(attempt(p, ann, "once") for _ in range(20)))
    assert results.count("ok") == 1 and results.count("promo_unavailable") == 19
    assert await available(db, ann.id) == start + 5
    promo, rows = await p.stats(admin=admin, code="once")
    assert promo.used == 1 and len(rows) == 1
    assert await held_budget(db, promo) == 495


async def test_per_user_allows_that_many_and_a_budget_caps_uses(db: Database) -> None:
    admin = await make_admin(db)
    p = promos(db)
    # Budget for 4 credits although 10 uses are allowed: the budget wins.
    await p.create(
        admin=admin, code="TWICE", asset="VIBE", amount=10, max_uses=10, per_user=2, budget=40
    )
    ann, bob, cat = await make_user(db), await make_user(db), await make_user(db)
    assert [await attempt(p, ann, "twice") for _ in range(3)] == [
        "ok",
        "ok",
        "promo_unavailable",
    ]
    assert [await attempt(p, bob, "TWICE") for _ in range(2)] == ["ok", "ok"]
    assert await attempt(p, cat, "twice") == "promo_unavailable"
    promo, _ = await p.stats(admin=admin, code="twice")
    assert (promo.used, promo.paid) == (4, 40) and await held_budget(db, promo) == 0


async def test_a_batch_answers_each_member_its_own_outcome(db: Database) -> None:
    """Members refused for their own reasons (banned, per-user limit reached, a user twice in
    one batch, more members than the slot has uses) share statements with members that are
    paid: each gets its own answer, and the code pays exactly its uses."""
    admin = await make_admin(db)
    p = promos(db, batched=True)
    assert p.batcher is not None
    await p.create(admin=admin, code="MIXED", asset="VIBE", amount=7, max_uses=20, per_user=2)
    fresh = [await make_user(db) for _ in range(24)]
    banned, twice = await make_user(db), await make_user(db)
    async with db.service() as session:
        await set_banned(session, banned.id, True)
    start = {u.id: await available(db, u.id) for u in [*fresh, twice]}
    attempts = [*fresh[:12], banned, banned, twice, twice, twice, *fresh[12:]]
    results = await asyncio.gather(*(attempt(p, u, "mixed") for u in attempts))
    assert p.batcher.batched > len(attempts) // 2, (p.batcher.batched, p.batcher.alone)
    assert results[12:14] == ["promo_unavailable"] * 2  # banned
    # per_user = 2, never more. It may be fewer: a twin in another statement at the same
    # instant may lose the race, and 27 eligible attempts share 20 uses.
    assert results[14:17].count("ok") <= 2
    assert set(results) == {"ok", "promo_unavailable"}
    assert results.count("ok") == 20  # every use, whoever raced whom
    credited = [await available(db, u.id) - start[u.id] for u in [*fresh, twice]]
    assert sum(credited) == 140 and set(credited) <= {0, 7, 14}
    promo, rows = await p.stats(admin=admin, code="mixed")
    assert (promo.used, promo.paid, len(rows)) == (20, 140, 20)
    assert await held_budget(db, promo) == 0


@pytest.mark.parametrize("batched", [False, True], ids=["alone", "batched"])
async def test_one_cause_redeems_once_however_often_and_concurrently_it_comes(
    db: Database, batched: bool
) -> None:
    """A bot message (its chat and message id) is the redemption's cause: its deliveries at
    once, in one statement or racing in several, pay once and all answer that redemption;
    another message of the same user is a use of its own."""
    admin = await make_admin(db)
    p = promos(db, batched=batched)
    await p.create(admin=admin, code="CAUSE", asset="VIBE", amount=5, max_uses=50, per_user=5)
    ann, bob = await make_user(db), await make_user(db)
    start = {u.id: await available(db, u.id) for u in (ann, bob)}
    tries = [(ann, "tg:1:1")] * 10 + [(ann, "tg:1:2")] * 3 + [(bob, "tg:2:1")] * 10
    done = await asyncio.gather(*(p.redeem(user=u, code="cause", cause=c) for u, c in tries))
    by_cause: dict[str, set[tuple[object, int]]] = {}
    for (_, cause), redemption in zip(tries, done, strict=True):
        by_cause.setdefault(cause, set()).add((redemption.transfer_id, redemption.use_number))
    assert {cause: len(answers) for cause, answers in by_cause.items()} == {
        "tg:1:1": 1,
        "tg:1:2": 1,
        "tg:2:1": 1,
    }
    assert len({answers.pop()[0] for answers in by_cause.values()}) == 3
    assert [await available(db, u.id) - start[u.id] for u in (ann, bob)] == [10, 5]
    promo, rows = await p.stats(admin=admin, code="cause")
    assert (promo.used, promo.paid, len(rows)) == (3, 15, 3)
    assert await held_budget(db, promo) == 50 * 5 - 15


@asynccontextmanager
async def service_connection(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A bare connection as the service role; a statement that loops gives up after 10 s."""
    conn = await asyncpg.connect(
        asyncpg_dsn(app_url_from_owner(owner_url)),
        server_settings={"role": "gv_service", "statement_timeout": "10000"},
    )
    try:
        yield conn
    finally:
        await conn.close()


async def test_a_message_delivered_in_two_statements_leaves_the_users_later_uses_free(
    db: Database, owner_url: str
) -> None:
    """A batch holding a message already redeemed by another statement answers it from that
    redemption, and its other members take the ordinals after; the ordinal skipped there must
    not make the user's next message loop for ever (alone) or be told `retry` for ever
    (batched): each is the user's next use, within per_user."""
    admin = await make_admin(db)
    await promos(db).create(
        admin=admin, code="GAP", asset="VIBE", amount=5, max_uses=50, per_user=4
    )
    ann, bob = await make_user(db), await make_user(db)
    start = {u.id: await available(db, u.id) for u in (ann, bob)}
    hashed = service.code_hash("GAP")
    one = "SELECT gifts.redeem_promo($1, $2, $3)"
    many = "SELECT gifts.redeem_promos($1, $2::uuid[], $3::text[])"
    async with (
        service_connection(owner_url) as first,
        service_connection(owner_url) as second,
        owner_connection(owner_url) as watcher,
    ):
        delivery = first.transaction()
        await delivery.start()
        assert json.loads(await first.fetchval(one, hashed, ann.id, "tg:1:1"))["result"] == "ok"
        batch = asyncio.create_task(
            second.fetchval(many, hashed, [ann.id] * 3, ["tg:1:2", "tg:1:1", "tg:1:3"])
        )
        await waiting_on_locks(watcher, 1)
        await delivery.commit()
        # tg:1:2 lost ordinal 1 to tg:1:1 and is asked again; tg:1:1 answers as it was paid;
        # tg:1:3 took ordinal 3, leaving 2 free.
        answers = [json.loads(a)["result"] for a in await batch]
        assert answers == ["retry", "ok", "ok"]
        again = json.loads(await second.fetchval(one, hashed, ann.id, "tg:1:2"))
        batched = await second.fetchval(many, hashed, [ann.id, bob.id], ["tg:1:4", "tg:2:1"])
    assert again["result"] == "ok"
    assert [json.loads(a)["result"] for a in batched] == ["ok", "ok"]
    paid = [await available(db, u.id) - start[u.id] for u in (ann, bob)]
    assert paid == [4 * 5, 5]


async def test_unknown_used_expired_and_ineligible_answer_the_same(db: Database) -> None:
    admin = await make_admin(db)
    p = promos(db)
    await p.create(admin=admin, code="ONE", asset="VIBE", amount=1, max_uses=1)
    await p.create(
        admin=admin, code="NEWBIES", asset="VIBE", amount=1, max_uses=9, new_users_only=True
    )
    await p.create(
        admin=admin, code="VETERANS", asset="VIBE", amount=1, max_uses=9, min_account_age=86400
    )
    soon = await p.create(
        admin=admin,
        code="SOON",
        asset="VIBE",
        amount=1,
        max_uses=9,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    old = await make_user(db)
    ann = await make_user(db)
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET created_at = now() - interval '1 day' WHERE id = :id"),
            {"id": old.id},
        )
        await session.execute(
            text(
                "UPDATE gifts.promo_codes SET expires_at = now() - interval '1 second' "
                "WHERE id = :id"
            ),
            {"id": soon.id},
        )
    old = await refreshed(db, old)
    assert await attempt(p, ann, "ONE") == "ok"
    answers = {
        await attempt(p, old, "ONE"),  # used up
        await attempt(p, ann, "NOSUCH"),  # unknown
        await attempt(p, ann, "x\x00y"),  # malformed
        await attempt(p, old, "NEWBIES"),  # registered before the code
        await attempt(p, ann, "VETERANS"),  # too young
        await attempt(p, ann, "SOON"),  # expired
    }
    assert answers == {"promo_unavailable"}
    assert await attempt(p, old, "veterans") == "ok"


async def refreshed(db: Database, user: User) -> User:
    async with db.service() as session:
        found = await session.get(User, user.id)
        assert found is not None
        return found


async def test_banned_users_cannot_redeem(db: Database) -> None:
    admin = await make_admin(db)
    p = promos(db)
    await p.create(admin=admin, code="BAN", asset="VIBE", amount=1, max_uses=9)
    eve = await make_user(db)
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET banned_at = now() WHERE id = :id"), {"id": eve.id}
        )
    assert await attempt(p, await refreshed(db, eve), "BAN") == "promo_unavailable"


async def test_only_admins_create_and_codes_are_unique_case_insensitively(db: Database) -> None:
    admin, ann = await make_admin(db), await make_user(db)
    p = promos(db)
    with pytest.raises(AdminOnly):
        await p.create(admin=ann, code="MINE", asset="VIBE", amount=1, max_uses=1)
    await p.create(admin=admin, code="Gift-Code", asset="VIBE", amount=1, max_uses=1)
    with pytest.raises(PromoCodeTaken):
        await p.create(admin=admin, code="gift-code", asset="VIBE", amount=1, max_uses=1)
    # More than NUMERIC(39,0) holds: refused before the database sees it.
    with pytest.raises(InvalidPromoTerms):
        await p.create(admin=admin, code="HUGE", asset="VIBE", amount=1, max_uses=1, budget=10**40)
    # A budget no use can pay in full, or beyond every use, would stay held for ever.
    for budget in (45, 101):
        with pytest.raises(InvalidPromoTerms):
            await p.create(
                admin=admin,
                code=f"ODD{budget}",
                asset="VIBE",
                amount=10,
                max_uses=10,
                budget=budget,
            )
    # An expiry a UTC timestamp cannot hold (year 9999 at -14:00), or decades away.
    far = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-14)))
    for expires_at in (far, datetime.now(UTC) + timedelta(days=365 * 50)):
        with pytest.raises(InvalidPromoTerms):
            await p.create(
                admin=admin, code="LATE", asset="VIBE", amount=1, max_uses=1, expires_at=expires_at
            )


async def test_attempts_are_rate_limited_per_user_and_per_address(db: Database) -> None:
    storage = MemoryWindows()
    p = promos(
        db,
        user=RateLimiter.create(storage, "promo-user", "3/minute"),
        ip=RateLimiter.create(storage, "promo-ip", "5/minute"),
    )
    ann, bob = await make_user(db), await make_user(db)
    for _ in range(3):
        with pytest.raises(PromoUnavailable):
            await p.redeem(user=ann, code="GUESS1", ip="10.0.0.1")
    with pytest.raises(RateLimited):
        await p.redeem(user=ann, code="GUESS2", ip="10.0.0.1")
    for _ in range(2):
        with pytest.raises(PromoUnavailable):
            await p.redeem(user=bob, code="GUESS3", ip="10.0.0.1")
    # Bob has attempts left, the address does not.
    with pytest.raises(RateLimited):
        await p.redeem(user=bob, code="GUESS4", ip="10.0.0.1")


async def test_expired_codes_release_their_budget_once(db: Database) -> None:
    from services.promo.tasks import close_expired_promos

    admin, ann = await make_admin(db), await make_user(db)
    p = promos(db)
    promo = await p.create(admin=admin, code="FADE", asset="VIBE", amount=2, max_uses=10)
    assert await attempt(p, ann, "FADE") == "ok"
    async with db.service() as session:
        await session.execute(
            text("UPDATE gifts.promo_codes SET expires_at = now() WHERE id = :id"),
            {"id": promo.id},
        )
    # Two instances at once: one closes it, the other finds nothing to do.
    closed = await asyncio.gather(close_expired_promos(db), close_expired_promos(db))
    assert sorted(closed) == [0, 1]
    assert await held_budget(db, promo) == 0
    assert await attempt(p, await make_user(db), "FADE") == "promo_unavailable"
