"""Two-phase transfers: a hold is posted (fully or partly), voided or expired, exactly once."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from db.database import Database
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import create_transfers, system_account, user_account
from services.ledger.tasks import expire_holds
from tests.ledger_helpers import account, available, fund, make_user


async def hold(db: Database, user_id: UUID, amount: int, expires_in: int | None = None) -> UUID:
    hold_id = uuid4()
    t = Transfer(
        id=hold_id,
        kind="pending",
        debit=user_account(user_id),
        credit=system_account("ai_spend"),
        asset="VIBE",
        amount=amount,
        code="ai_generation",
        timeout=expires_in,
    )
    async with db.service() as session:
        assert await create_transfers(session, [t]) == ["ok"]
    return hold_id


async def resolve(db: Database, hold_id: UUID, kind: str, amount: int | None = None) -> str:
    r = ResolveHold(id=uuid4(), pending_id=hold_id, kind=kind, amount=amount)  # type: ignore[arg-type]
    async with db.service() as session:
        [result] = await create_transfers(session, [r])
    return result


async def test_hold_reserves_then_partial_post_releases_the_rest(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 100)
    h = await hold(db, ann.id, 30)
    assert await available(db, ann.id) == 70
    assert (await account(db, user_account(ann.id)))["debits_pending"] == 30
    assert await resolve(db, h, "post", 40) == "exceeds_pending_transfer_amount"
    assert await resolve(db, h, "post", 12) == "ok"
    assert await available(db, ann.id) == 88
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == 12
    assert await resolve(db, h, "post") == "pending_transfer_already_posted"
    assert await resolve(db, h, "void") == "pending_transfer_already_posted"


async def test_full_post_and_void(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 100)
    posted, voided = await hold(db, ann.id, 30), await hold(db, ann.id, 50)
    assert await available(db, ann.id) == 20
    assert await resolve(db, posted, "post") == "ok"
    assert await resolve(db, voided, "void") == "ok"
    assert await available(db, ann.id) == 70
    assert await resolve(db, voided, "post") == "pending_transfer_already_voided"
    assert await resolve(db, uuid4(), "void") == "pending_transfer_not_found"


async def test_hold_counts_against_available_funds(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 10)
    await hold(db, ann.id, 8)
    spend = Transfer(
        id=uuid4(),
        debit=user_account(ann.id),
        credit=system_account("fees"),
        asset="VIBE",
        amount=3,
        code="x",
    )
    async with db.service() as session:
        assert await create_transfers(session, [spend]) == ["insufficient_funds"]


async def test_expiry_job_voids_overdue_holds_once(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 100)
    overdue = await hold(db, ann.id, 30, expires_in=1)
    lasting = await hold(db, ann.id, 20, expires_in=3600)
    forever = await hold(db, ann.id, 10)
    assert await resolve(db, overdue, "expire") == "pending_transfer_not_expired"
    await asyncio.sleep(1.1)
    assert await resolve(db, overdue, "post") == "pending_transfer_expired"
    assert await expire_holds(db) == 1
    assert await expire_holds(db) == 0
    assert await available(db, ann.id) == 70
    assert await resolve(db, overdue, "void") == "pending_transfer_expired"
    assert await resolve(db, lasting, "post") == "ok"
    assert await resolve(db, forever, "void") == "ok"


async def test_concurrent_post_and_void_of_one_hold_exactly_one_wins(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 1000)
    for _ in range(5):
        h = await hold(db, ann.id, 100)
        results = await asyncio.gather(*(resolve(db, h, kind) for kind in ("post", "void") * 5))
        assert results.count("ok") == 1, results
        assert set(results) - {"ok"} <= {
            "pending_transfer_already_posted",
            "pending_transfer_already_voided",
        }
