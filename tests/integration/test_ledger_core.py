"""tokens.create_transfers semantics: double entry, idempotency, linked batches, result codes."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.database import Database
from services.errors import InsufficientFunds
from services.ledger.assets import DEFAULT_ASSET, DEFAULT_ASSET_DECIMALS
from services.ledger.schemas import Asset, Transfer
from services.ledger.service import (
    apply,
    create_transfers,
    grant,
    system_account,
    user_account,
)
from tests.ledger_helpers import account, available, fund, make_user


def move(debit: str, credit: str, amount: int, **extra: object) -> Transfer:
    fields: dict[str, object] = {"asset": "VIBE", "code": "test", "id": uuid4()} | extra
    return Transfer(debit=debit, credit=credit, amount=amount, **fields)  # type: ignore[arg-type]


async def test_transfer_moves_exact_amount_and_replay_returns_first_outcome(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100)
    t = move(user_account(ann.id), user_account(bob.id), 40)
    async with db.service() as session:
        assert await create_transfers(session, [t]) == ["ok"]
    async with db.service() as session:
        assert await create_transfers(session, [t]) == ["exists"]
    changed = Transfer(**{**t.__dict__, "amount": 41})
    async with db.service() as session:
        assert await create_transfers(session, [changed]) == ["exists_with_different_fields"]
    assert await available(db, ann.id) == 60
    assert await available(db, bob.id) == 40


async def test_failure_is_remembered_even_after_funds_arrive(db: Database) -> None:
    ann, bob = await make_user(db), await make_user(db)
    t = move(user_account(ann.id), user_account(bob.id), 5)
    with pytest.raises(InsufficientFunds):
        async with db.service() as session:
            await apply(session, [t])
    # apply raised after the statement: the failure row must survive the rollback only if the
    # caller commits, so record it the way a caller that inspects codes does.
    async with db.service() as session:
        assert await create_transfers(session, [t]) == ["insufficient_funds"]
    await fund(db, ann.id, 10)
    async with db.service() as session:
        assert await create_transfers(session, [t]) == ["insufficient_funds"]
    assert await available(db, ann.id) == 10


async def test_linked_batch_all_or_nothing(db: Database) -> None:
    ann, bob, cid = await make_user(db), await make_user(db), await make_user(db)
    await fund(db, ann.id, 10)
    ok = move(user_account(ann.id), user_account(bob.id), 6)
    too_much = move(user_account(ann.id), user_account(cid.id), 6)
    async with db.service() as session:
        assert await create_transfers(session, [ok, too_much]) == [
            "linked_event_failed",
            "insufficient_funds",
        ]
    assert await available(db, ann.id) == 10 and await available(db, bob.id) == 0
    # Unlinked, the first applies alone.
    a, b = (
        move(user_account(ann.id), user_account(bob.id), 6),
        move(user_account(ann.id), user_account(cid.id), 6),
    )
    async with db.service() as session:
        assert await create_transfers(session, [a, b], linked=False) == ["ok", "insufficient_funds"]
    assert await available(db, ann.id) == 4 and await available(db, bob.id) == 6


async def test_result_codes_for_bad_requests(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 10)
    me = user_account(ann.id)
    cases = {
        "accounts_must_be_different": move(me, me, 1),
        "amount_must_be_positive": move(me, system_account("fees"), 0),
        "account_not_found": move(me, user_account(uuid4()), 1),
    }
    for expected, transfer in cases.items():
        async with db.service() as session:
            assert await create_transfers(session, [transfer]) == [expected], expected
    async with db.service() as session:
        assert await create_transfers(session, [move(me, "system:nonsense", 1)]) == [
            "account_not_found"
        ]
        assert await create_transfers(
            session, [move(me, system_account("fees"), 1, asset="NOPE")]
        ) == ["account_not_found"]


async def test_system_accounts_per_asset_and_issuance_goes_negative(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 7, asset="TON")
    issuance = await account(db, system_account("issuance"), "TON")
    assert issuance["debits_posted"] == 7
    assert await available(db, ann.id, "TON") == 7
    assert await available(db, ann.id, "VIBE") == 0


async def test_the_default_asset_is_seeded_with_the_decimals_the_settings_assume(
    db: Database,
) -> None:
    async with db.service() as session:
        decimals = await session.scalar(
            text("SELECT decimals FROM tokens.assets WHERE code = :code"), {"code": DEFAULT_ASSET}
        )
    assert decimals == DEFAULT_ASSET_DECIMALS


async def test_nobody_writes_ledger_tables_directly(db: Database) -> None:
    ann = await make_user(db)
    await fund(db, ann.id, 10)
    for statement in (
        "UPDATE tokens.accounts SET credits_posted = credits_posted + 1",
        "DELETE FROM tokens.transfers",
        "INSERT INTO tokens.assets (code, name, decimals) VALUES ('FAKE', 'x', 0)",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            async with db.service() as session:
                await session.execute(text(statement))


async def test_balances_and_transfers_are_isolated_by_rls(db: Database) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 10)
    await fund(db, bob.id, 20)
    async with db.user(ann.id) as session:
        owners = (
            (await session.execute(text("SELECT DISTINCT user_id FROM tokens.accounts")))
            .scalars()
            .all()
        )
        amounts = (
            (await session.execute(text("SELECT amount FROM tokens.transfers"))).scalars().all()
        )
    assert owners == [ann.id]
    assert [int(a) for a in amounts] == [10]
    async with db.user(ann.id) as session:
        with pytest.raises(DBAPIError, match="permission denied"):
            await session.execute(text("SELECT tokens.create_transfers('[]'::jsonb, true)"))


async def test_batch_across_assets_and_new_accounts(db: Database) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 50, asset="VIBE")
    await fund(db, bob.id, 70, asset="TON")
    # Bob has no VIBE account and Ann no TON account yet: both are created by the batch.
    swap = [
        move(user_account(ann.id), user_account(bob.id), 50),
        move(user_account(bob.id), user_account(ann.id), 70, asset="TON"),
    ]
    async with db.service() as session:
        assert await create_transfers(session, swap) == ["ok", "ok"]
    assert await available(db, bob.id, "VIBE") == 50 and await available(db, ann.id, "TON") == 70
    assert await available(db, ann.id, "VIBE") == 0 and await available(db, bob.id, "TON") == 0


async def test_groups_link_inside_an_unlinked_batch(db: Database) -> None:
    ann, bob, cid = await make_user(db), await make_user(db), await make_user(db)
    await fund(db, ann.id, 10)
    fees = system_account("fees")
    batch = [
        move(user_account(ann.id), user_account(bob.id), 4, group=1),
        move(user_account(ann.id), fees, 1, group=1),
        # Group 2 fails on its second leg: its first leg is undone, group 3 still runs.
        move(user_account(ann.id), user_account(cid.id), 3, group=2),
        move(user_account(ann.id), fees, 9, group=2),
        move(user_account(ann.id), user_account(cid.id), 5, group=3),
    ]
    async with db.service() as session:
        results = await create_transfers(session, batch, linked=False)
    assert results == ["ok", "ok", "linked_event_failed", "insufficient_funds", "ok"]
    assert await available(db, ann.id) == 0
    assert await available(db, bob.id) == 4 and await available(db, cid.id) == 5
    async with db.service() as session:
        again = await create_transfers(session, batch, linked=False)
    assert again == ["exists", "exists", "linked_event_failed", "insufficient_funds", "exists"]


async def test_a_failed_group_undoes_its_hold_resolutions_and_daily_counts(db: Database) -> None:
    """What a failed group changed is undone before the next group runs: the hold it posted can
    be posted by a later group, and the daily allowance it used is there again."""
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 100)
    fees = system_account("fees")
    hold_id = uuid4()
    held = move(user_account(ann.id), user_account(bob.id), 30, id=hold_id, kind="pending")
    async with db.service() as session:
        assert await create_transfers(session, [held]) == ["ok"]
    ann_vibe = user_account(ann.id)

    def leg(group: int, **fields: object) -> dict[str, object]:
        return {"id": str(uuid4()), "group": group, "asset": "VIBE", "code": "test"} | fields

    batch = [
        # Group 1 posts the hold and spends the day's allowance, then fails on its last leg.
        leg(1, kind="post", pending_id=str(hold_id), asset=None, code=None),
        leg(1, debit=ann_vibe, credit=fees, amount="20", daily_limit="25"),
        leg(1, debit=ann_vibe, credit=fees, amount="1000"),
        # Group 2 finds the hold pending and the allowance whole.
        leg(2, kind="post", pending_id=str(hold_id), asset=None, code=None),
        leg(2, debit=ann_vibe, credit=fees, amount="25", daily_limit="25"),
    ]
    async with db.service() as session:
        results = await session.scalar(
            text("SELECT tokens.create_transfers(CAST(:batch AS jsonb), false)"),
            {"batch": json.dumps([{k: v for k, v in t.items() if v is not None} for t in batch])},
        )
    assert results == [
        "linked_event_failed",
        "linked_event_failed",
        "insufficient_funds",
        "ok",
        "ok",
    ]
    assert await available(db, ann.id) == 100 - 30 - 25
    assert await available(db, bob.id) == 30


async def test_missing_accounts_are_opened_when_other_assets_of_their_owners_exist(
    db: Database,
) -> None:
    """The accounts locked for a two-asset batch include cross pairs (X's TON, Y's VIBE): as
    many rows as accounts wanted, while X's VIBE and Y's TON still need opening."""
    x, y = await make_user(db), await make_user(db)
    await fund(db, x.id, 10, asset="TON")
    await fund(db, y.id, 10, asset="VIBE")
    issuance = system_account("issuance")
    batch = [
        move(issuance, user_account(x.id), 5, code="test_funding"),
        move(issuance, user_account(y.id), 5, code="test_funding", asset="TON"),
    ]
    async with db.service() as session:
        assert await create_transfers(session, batch, linked=False) == ["ok", "ok"]
    assert await available(db, x.id) == 5 and await available(db, y.id, "TON") == 5


async def test_a_replayed_grant_moves_and_notifies_once(db: Database) -> None:
    admin = await make_user(db, "root")
    admin.role = "admin"  # as ADMIN_IDS makes it at sign-in
    bob = await make_user(db, "bob")
    vibe = Asset(code="VIBE", name="Good Vibe token", decimals=6, transferable=True)

    async def grant_once() -> bool:
        async with db.service() as session:
            outcome = await grant(
                session,
                admin=admin,
                cause="chat:42",
                user=bob,
                asset=vibe,
                amount=5_000_000,
                reason="contest",
            )
        return outcome.replayed

    replayed = await asyncio.gather(*(grant_once() for _ in range(10)))
    assert sorted(replayed) == [False] + [True] * 9
    assert await available(db, bob.id) == 5_000_000
    async with db.service() as session:
        notices = await session.scalar(
            text("SELECT count(*) FROM ops.outbox WHERE user_id = :id AND template = :t"),
            {"id": bob.id, "t": "ledger.grant_notice"},
        )
    assert notices == 1


async def test_metadata_must_be_a_small_object_and_a_refusal_is_not_remembered(
    db: Database,
) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100)
    same = uuid4()
    debit, credit = user_account(ann.id), user_account(bob.id)
    cases = [
        ({"note": "x" * 5000}, "metadata_too_large"),
        (["not", "an", "object"], "metadata_must_be_object"),
    ]
    for metadata, code in cases:
        async with db.service() as session:
            assert await create_transfers(
                session, [move(debit, credit, 10, id=same, metadata=metadata)]
            ) == [code]
    # Nothing was stored: the corrected request may reuse the id.
    async with db.service() as session:
        ok = move(debit, credit, 10, id=same, metadata={"note": "lunch"})
        assert await create_transfers(session, [ok]) == ["ok"]
    assert await available(db, bob.id) == 10
