"""Gifts under real concurrent connections: each share paid once, escrow exact, one winner."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from db.database import Database
from db.models import User
from services.errors import DomainError, InsufficientFunds
from services.gifts.errors import GiftNotForYou, GiftUnavailable, InvalidShares, OwnGift
from services.gifts.schemas import Gift
from services.gifts.service import secret_hash, split_amount
from services.gifts.tasks import expire_gifts
from services.gifts.usecase import Gifts
from services.ledger.service import AssetRegistry, system_account
from services.transfers.config import P2PRules
from tests.ledger_helpers import account, available, fund, make_user


def gifts(db: Database) -> Gifts:
    return Gifts(
        db, AssetRegistry(), ttl=timedelta(days=7), bot_username="GoodVibeBot", p2p=P2PRules()
    )


async def attempt(g: Gifts, user: User, secret: str) -> str:
    try:
        await g.claim(claimer=user, secret=secret)
    except DomainError as error:
        return error.code
    return "ok"


async def escrow_pending(db: Database, gift: Gift) -> int:
    totals = await account(db, system_account("escrow", shard=gift.id.int % 256), gift.asset)
    return totals["credits_pending"]


async def test_fifty_concurrent_claims_of_one_link_pay_one_claimer(db: Database) -> None:
    g = gifts(db)
    ann = await make_user(db)
    await fund(db, ann.id, 1000)
    start = await available(db, ann.id)
    link = await g.create(creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=70)
    assert link.secret is not None and len(link.secret) >= 22
    assert g.link(link.secret) == f"https://t.me/GoodVibeBot?start=gift_{link.secret}"
    assert await available(db, ann.id) == start - 70
    users = [await make_user(db) for _ in range(50)]
    before = {u.id: await available(db, u.id) for u in users}
    results = await asyncio.gather(*(attempt(g, u, link.secret) for u in users))
    assert results.count("ok") == 1 and results.count("gift_unavailable") == 49
    winners = [u for u in users if await available(db, u.id) == before[u.id] + 70]
    assert len(winners) == 1
    assert await escrow_pending(db, link) == 0
    [mine] = [x for x in await g.list_for(winners[0]) if x.id == link.id]
    assert (mine.status, mine.claimed_shares, mine.claimed_amount) == ("claimed", 1, 70)


@pytest.mark.parametrize("split", ["equal", "random"])
async def test_hundred_users_claiming_a_ten_share_packet_get_ten_shares(
    db: Database, split: str
) -> None:
    g = gifts(db)
    ann = await make_user(db)
    await fund(db, ann.id, 10_000)
    start = await available(db, ann.id)
    packet = await g.create(
        creator=ann,
        gift_id=uuid4(),
        kind="packet",
        asset="VIBE",
        amount=1003,
        shares=10,
        split=split,  # type: ignore[arg-type]
    )
    assert packet.secret is not None
    users = [await make_user(db) for _ in range(100)]
    before = {u.id: await available(db, u.id) for u in users}
    # Each user twice: one share per user however often they try.
    tries = [u for u in users for _ in range(2)]
    results = await asyncio.gather(*(attempt(g, u, packet.secret) for u in tries))
    assert results.count("ok") == 10
    gained = [await available(db, u.id) - before[u.id] for u in users]
    assert sum(1 for x in gained if x > 0) == 10 and sum(gained) == 1003
    assert await available(db, ann.id) == start - 1003
    assert await escrow_pending(db, packet) == 0
    async with db.service() as session:
        status = await session.scalar(
            text("SELECT status FROM gifts.gifts WHERE id = :id"), {"id": packet.id}
        )
    assert status == "claimed"


async def test_cancel_racing_claims_one_wins_and_escrow_is_exact(db: Database) -> None:
    g = gifts(db)
    ann = await make_user(db)
    await fund(db, ann.id, 10_000)
    for _ in range(5):
        start = await available(db, ann.id)
        link = await g.create(creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=40)
        assert link.secret is not None
        bob = await make_user(db)
        bob_start = await available(db, bob.id)

        async def cancel(gift_id: UUID = link.id) -> str:
            try:
                await g.cancel(creator=ann, gift_id=gift_id)
            except DomainError as error:
                return error.code
            return "ok"

        results = await asyncio.gather(
            cancel(), attempt(g, bob, link.secret), cancel(), attempt(g, bob, link.secret)
        )
        cancelled = results[0] == "ok" or results[2] == "ok"
        claimed = results[1] == "ok" or results[3] == "ok"
        assert cancelled != claimed
        assert results.count("ok") == 1
        if cancelled:
            assert await available(db, ann.id) == start
            assert await available(db, bob.id) == bob_start
        else:
            assert await available(db, ann.id) == start - 40
            assert await available(db, bob.id) == bob_start + 40
        assert await escrow_pending(db, link) == 0


async def test_named_links_own_gifts_and_a_packet_cancelled_half_way(db: Database) -> None:
    g = gifts(db)
    ann, bob, cat = (
        await make_user(db, "ann_g"),
        await make_user(db, "bob_g"),
        await make_user(db),
    )
    await fund(db, ann.id, 1000)
    start = await available(db, ann.id)
    named = await g.create(
        creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=5, recipient="@bob_g"
    )
    assert named.secret is not None
    with pytest.raises(GiftNotForYou):
        await g.claim(claimer=cat, secret=named.secret)
    with pytest.raises(OwnGift):
        await g.claim(claimer=ann, secret=named.secret)
    await g.claim(claimer=bob, secret=named.secret)
    async with db.service() as session:
        notice = (
            await session.execute(
                text(
                    "SELECT template, params->>'claimer', params->>'amount' FROM ops.outbox "
                    "WHERE user_id = :u AND template = 'gifts.claimed_notice'"
                ),
                {"u": ann.id},
            )
        ).all()
    assert [tuple(n) for n in notice] == [("gifts.claimed_notice", "@bob_g", "0.000005")]
    packet = await g.create(
        creator=ann, gift_id=uuid4(), kind="packet", asset="VIBE", amount=30, shares=3
    )
    assert packet.secret is not None
    await g.claim(claimer=cat, secret=packet.secret)
    cancelled = await g.cancel(creator=ann, gift_id=packet.id)
    assert (cancelled.status, cancelled.claimed_amount) == ("cancelled", 10)
    assert await available(db, ann.id) == start - 5 - 10
    with pytest.raises(GiftUnavailable):
        await g.claim(claimer=bob, secret=packet.secret)
    with pytest.raises(GiftUnavailable):
        await g.claim(claimer=bob, secret="A" * 32)
    # Only the hash is stored.
    async with db.service() as session:
        stored = await session.scalar(
            text("SELECT secret_hash FROM gifts.gifts WHERE id = :id"), {"id": packet.id}
        )
        dump = await session.scalar(text("SELECT string_agg(g::text, '') FROM gifts.gifts g"))
    assert bytes(stored) == secret_hash(packet.secret) and packet.secret not in dump


async def test_a_direct_gift_moves_at_once_without_fee_and_notifies(db: Database) -> None:
    g = gifts(db)
    ann, bob = await make_user(db, "ann_d"), await make_user(db, "bob_d")
    await fund(db, ann.id, 100)
    a0, b0 = await available(db, ann.id), await available(db, bob.id)
    gift_id = uuid4()
    sent = await g.create(
        creator=ann,
        gift_id=gift_id,
        kind="direct",
        asset="VIBE",
        amount=60,
        recipient="bob_d",
        message="happy birthday",
    )
    assert sent.status == "sent" and sent.secret is None
    # A replay of the same cause moves nothing more.
    await g.create(
        creator=ann,
        gift_id=gift_id,
        kind="direct",
        asset="VIBE",
        amount=60,
        recipient="bob_d",
        message="happy birthday",
    )
    assert await available(db, ann.id) == a0 - 60 and await available(db, bob.id) == b0 + 60
    async with db.service() as session:
        notices = (
            await session.execute(
                text("SELECT template, params->>'message' FROM ops.outbox WHERE user_id = :u"),
                {"u": bob.id},
            )
        ).all()
    assert [tuple(n) for n in notices if n[0].startswith("gifts.")] == [
        ("gifts.received", "happy birthday")
    ]
    with pytest.raises(InsufficientFunds):
        await g.create(creator=ann, gift_id=uuid4(), kind="link", asset="VIBE", amount=a0)


async def test_expiry_with_two_instances_voids_each_gift_once(db: Database) -> None:
    g = gifts(db)
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 1000)
    start = await available(db, ann.id)
    made = [
        await g.create(
            creator=ann, gift_id=uuid4(), kind="packet", asset="VIBE", amount=9, shares=3
        )
        for _ in range(4)
    ]
    assert made[0].secret is not None
    await g.claim(claimer=bob, secret=made[0].secret)
    async with db.service() as session:
        await session.execute(text("UPDATE gifts.gifts SET expires_at = now()"))
    counts = await asyncio.gather(expire_gifts(db), expire_gifts(db))
    assert sum(counts) == 4
    assert await available(db, ann.id) == start - 3
    assert all([await escrow_pending(db, gift) == 0 for gift in made])
    with pytest.raises(GiftUnavailable):
        await g.claim(claimer=await make_user(db), secret=made[0].secret)


def test_splits_are_exact() -> None:
    for total, shares in [(10, 10), (1003, 10), (10**30 + 7, 100), (5, 1)]:
        for split in ("equal", "random"):
            parts = split_amount(total, shares, split)  # type: ignore[arg-type]
            assert sum(parts) == total and len(parts) == shares and min(parts) >= 1
    assert split_amount(10, 3, "equal") == [4, 3, 3]
    with pytest.raises(InvalidShares):
        split_amount(9, 10, "random")
