"""Holds on one account resolved at once: each one posts (two AI jobs finishing together)."""

from __future__ import annotations

import asyncio
from uuid import UUID, uuid4

from db.database import Database
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import create_transfers, system_account, user_account
from tests.invariants import assert_invariants
from tests.ledger_helpers import account, available, fund, make_user


async def test_concurrent_posts_of_holds_on_one_account_all_apply(
    db: Database, owner_url: str
) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 1000)
    holds: list[UUID] = []
    for _ in range(8):
        hold = uuid4()
        t = Transfer(
            id=hold,
            kind="pending",
            debit=user_account(ann.id),
            credit=system_account("ai_spend"),
            asset="VIBE",
            amount=10,
            code="ai_generation",
        )
        async with db.service() as session:
            assert await create_transfers(session, [t]) == ["ok"]
        holds.append(hold)

    async def resolve(hold: UUID, kind: str) -> list[str]:
        async with db.service() as session:
            r = ResolveHold(id=uuid4(), pending_id=hold, kind=kind)  # type: ignore[arg-type]
            return await create_transfers(session, [r])

    kinds = ["post", "void"] * 4
    results = await asyncio.gather(*(resolve(h, k) for h, k in zip(holds, kinds, strict=True)))
    assert results == [["ok"]] * 8
    assert await available(db, ann.id) == 1000 - 40
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == 40
    await assert_invariants(owner_url)
