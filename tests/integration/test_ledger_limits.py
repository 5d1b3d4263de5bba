"""Every asset has a maximum supply and a per-operation maximum; no account total overflows."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import uuid4

import asyncpg
import pytest
from aiogram import Bot, Dispatcher

from db.database import Database
from db.migrate import downgrade, upgrade
from db.models import User
from db.urls import asyncpg_dsn
from sandbox.botapi import BotApiServer
from services.errors import Conflict, DomainError, ValidationError
from services.i18n import Catalog
from services.ledger.amounts import MAX_UNITS
from services.ledger.schemas import Asset, Transfer
from services.ledger.service import (
    AssetRegistry,
    create_transfers,
    grant,
    revoke,
    system_account,
    transfer_id,
    user_account,
)
from services.ledger.welcome import pay_welcome_bonus, welcome_bonus
from services.transfers.batcher import SendBatcher
from services.transfers.config import P2PRules
from services.transfers.service import Receipt
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram
from tests.ledger_helpers import account, available, fund, make_user
from tests.telegram import ADMIN_ID, bot, botapi, dispatcher, send, tg_user  # noqa: F401

TAC_UNIT = 10**18
LEGACY_GRANT = 999_999_999_999_999_999_987 * TAC_UNIT  # the grant of the issue: 39 digits
migration = importlib.import_module("migrations.versions.0006_amount_limits")


@asynccontextmanager
async def as_owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        yield conn
    finally:
        await conn.close()


async def assets(db: Database) -> dict[str, Asset]:
    async with db.service() as session:
        return await AssetRegistry().all(session)


async def make_admin(db: Database) -> User:
    admin = await make_user(db, "root")
    admin.role = "admin"  # grant() checks the role of the user it is given
    return admin


def mint(user: User, amount: int, asset: str = "TON", source: str = "issuance") -> Transfer:
    return Transfer(
        id=uuid4(),
        debit=system_account(source),
        credit=user_account(user.id),
        asset=asset,
        amount=amount,
        code="test_mint",
    )


async def test_0006_downgrades_to_the_0004_function_and_upgrades_again(owner_url: str) -> None:
    query = "SELECT pg_get_functiondef('tokens.create_transfers(jsonb, boolean)'::regprocedure)"
    await downgrade(owner_url, "0004_ledger_replays")
    async with as_owner(owner_url) as conn:
        old = await conn.fetchval(query)
        columns = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns "
            "WHERE table_schema = 'tokens' AND table_name = 'assets' AND column_name LIKE 'max_%'"
        )
    assert columns == 0 and "max_supply" not in old
    # The function 0004 itself leaves, built again from 0003, is the one the downgrade left.
    await downgrade(owner_url, "0003_ledger_speed")
    await upgrade(owner_url, "0004_ledger_replays")
    async with as_owner(owner_url) as conn:
        assert await conn.fetchval(query) == old
    # 0006 applies its own frozen copy (tests/integration/test_sql_sources.py compares the
    # head database with the source files).
    await upgrade(owner_url, "0006_amount_limits")
    async with as_owner(owner_url) as conn:
        new = await conn.fetchval(query)
    assert migration.body(new) == migration.body(migration.CREATE_TRANSFERS)
    await upgrade(owner_url)


async def test_every_asset_has_limits_that_keep_totals_in_numeric_39(db: Database) -> None:
    limits = await assets(db)
    assert set(limits) == {"VIBE", "TON", "USDT", "TAC"}
    for asset in limits.values():
        assert asset.max_amount is not None and asset.max_supply is not None
        # README "Ledger" / "Limits": fewer than 10^5 minting accounts per asset.
        assert 0 < asset.max_amount <= asset.max_supply <= 10**33
        assert 10**5 * asset.max_supply < MAX_UNITS
    assert limits["TAC"].max_supply == 10**10 * TAC_UNIT


async def test_a_grant_above_the_maximum_is_refused_by_code_and_by_the_database(
    db: Database,
) -> None:
    admin, bob = await make_admin(db), await make_user(db, "bob")
    tac = (await assets(db))["TAC"]
    assert tac.max_amount is not None
    with pytest.raises(ValidationError) as refused:
        async with db.service() as session:
            await grant(
                session,
                admin=admin,
                cause="big",
                user=bob,
                asset=tac,
                amount=LEGACY_GRANT,
                reason="oops",
            )
    assert refused.value.code == "amount_too_large"
    assert refused.value.details == {"max": "100000000", "asset": "TAC"}
    # Past the Python check, the function refuses it too, and remembers the refusal.
    big = mint(bob, tac.max_amount + 1, "TAC")
    async with db.service() as session:
        assert await create_transfers(session, [big]) == ["amount_too_large"]
    async with db.service() as session:
        assert await create_transfers(session, [big]) == ["amount_too_large"]
    assert await available(db, bob.id, "TAC") == 0


async def test_concurrent_mints_near_the_cap_never_exceed_it(db: Database, owner_url: str) -> None:
    cap, each, tries = 10_000, 1_000, 40
    users = [await make_user(db, f"m{n}") for n in range(tries)]
    await fund(db, users[0].id, 2_500, "TON")  # outstanding before the race: 2,500
    async with as_owner(owner_url) as conn:
        await conn.execute(
            "UPDATE tokens.assets SET max_supply = $1, max_amount = $2 WHERE code = 'TON'",
            cap,
            each,
        )

    async def one(user: User) -> list[str]:
        async with db.service() as session:
            return await create_transfers(session, [mint(user, each)])

    results = await asyncio.gather(*(one(u) for u in users))
    codes = [r[0] for r in results]
    assert codes.count("ok") == 7 and codes.count("supply_exceeded") == tries - 7
    issuance = await account(db, system_account("issuance"), "TON")
    assert issuance["debits_posted"] - issuance["credits_posted"] == 9_500
    # Burning makes room again; a hold counts as outstanding until it is voided.
    async with db.service() as session:
        burn = Transfer(
            id=uuid4(),
            debit=user_account(users[0].id),
            credit=system_account("issuance"),
            asset="TON",
            amount=1_000,
            code="test_burn",
        )
        hold = Transfer(**{**mint(users[1], 1_000).__dict__, "kind": "pending"})
        assert await create_transfers(session, [burn, hold], linked=False) == ["ok", "ok"]
    async with db.service() as session:
        assert await create_transfers(session, [mint(users[2], 1_000)]) == ["supply_exceeded"]


async def test_an_overfilled_account_answers_and_can_be_emptied(
    db: Database, owner_url: str
) -> None:
    """The issue's state: 999999999999999999987 TAC granted before the limits existed."""
    admin = await make_admin(db)
    bob, carol = await make_user(db, "bob"), await make_user(db, "carol")
    senders = [await make_user(db, f"s{n}") for n in range(8)]
    # Funded from deposits: the legacy grant leaves issuance itself near the limit.
    async with db.service() as session:
        deposits = [mint(u, 1_000 * TAC_UNIT, "TAC", "chain_clearing") for u in senders]
        assert await create_transfers(session, deposits) == ["ok"] * 8
    async with as_owner(owner_url) as conn:
        limits = await conn.fetchrow(
            "SELECT max_supply, max_amount FROM tokens.assets WHERE code = 'TAC'"
        )
        await conn.execute(
            "ALTER TABLE tokens.assets DROP CONSTRAINT assets_limits_check;"
            f"UPDATE tokens.assets SET max_supply = {MAX_UNITS}, max_amount = {MAX_UNITS} "
            "WHERE code = 'TAC'"
        )
    async with db.service() as session:
        assert await create_transfers(session, [mint(bob, LEGACY_GRANT, "TAC")]) == ["ok"]
    async with as_owner(owner_url) as conn:
        await conn.execute(
            "UPDATE tokens.assets SET max_supply = $1, max_amount = $2 WHERE code = 'TAC'",
            *limits,
        )
        await conn.execute(
            "ALTER TABLE tokens.assets ADD CONSTRAINT assets_limits_check CHECK "
            "(max_amount > 0 AND max_amount <= max_supply AND max_supply <= 1e33)"
        )
    tac = (await assets(db))["TAC"]

    # Minting more is refused with a reason, not a numeric overflow.
    with pytest.raises(Conflict) as refused:
        async with db.service() as session:
            await grant(
                session,
                admin=admin,
                cause="more",
                user=carol,
                asset=tac,
                amount=TAC_UNIT,
                reason="gift",
            )
    assert refused.value.code == "supply_exceeded"
    assert refused.value.details == {"max": "10000000000", "asset": "TAC"}

    # A send that would overflow bob's credits fails alone; its batch neighbours go through.
    batcher = SendBatcher(db, P2PRules(fee_bps=100), workers=1)
    try:
        outcomes = await asyncio.gather(
            *(
                batcher.send(
                    sender=s,
                    recipient=bob if n == 3 else carol,
                    asset=tac,
                    amount=20 * TAC_UNIT,
                    transfer_id=uuid4(),
                )
                for n, s in enumerate(senders)
            ),
            return_exceptions=True,
        )
    finally:
        await batcher.close()
    assert [isinstance(o, Receipt) for o in outcomes] == [n != 3 for n in range(8)]
    culprit = outcomes[3]
    assert isinstance(culprit, Conflict) and culprit.code == "account_total_overflow"
    assert await available(db, carol.id, "TAC") == 7 * 20 * TAC_UNIT

    # /revoke is not capped per operation: the whole grant comes back, and minting resumes.
    async with db.service() as session:
        await revoke(
            session,
            admin=admin,
            cause="undo",
            user=bob,
            asset=tac,
            amount=LEGACY_GRANT,
            reason="mistake",
        )
    assert await available(db, bob.id, "TAC") == 0
    async with db.service() as session:
        await grant(
            session,
            admin=admin,
            cause="again",
            user=carol,
            asset=tac,
            amount=TAC_UNIT,
            reason="gift",
        )


async def test_a_grant_reason_that_cannot_be_stored_is_refused(db: Database) -> None:
    admin, bob = await make_admin(db), await make_user(db, "bob")
    ton = (await assets(db))["TON"]
    with pytest.raises(ValidationError) as refused:
        async with db.service() as session:
            await grant(
                session, admin=admin, cause="g", user=bob, asset=ton, amount=1, reason="a\x00b"
            )
    assert refused.value.code == "invalid_text"


async def test_revoke_takes_back_what_is_still_there_and_says_how_much_that_is(
    db: Database,
) -> None:
    admin, bob, carol = await make_admin(db), await make_user(db, "bob"), await make_user(db, "c")
    ton = (await assets(db))["TON"]
    async with db.service() as session:
        await grant(session, admin=admin, cause="g", user=bob, asset=ton, amount=100, reason="gift")
    spend = Transfer(
        id=uuid4(),
        debit=user_account(bob.id),
        credit=user_account(carol.id),
        asset="TON",
        amount=30,
        code="test",
    )
    hold = Transfer(**{**spend.__dict__, "id": uuid4(), "amount": 20, "kind": "pending"})
    async with db.service() as session:
        assert await create_transfers(session, [spend, hold], linked=False) == ["ok", "ok"]
    with pytest.raises(DomainError) as refused:
        async with db.service() as session:
            await revoke(
                session, admin=admin, cause="r1", user=bob, asset=ton, amount=100, reason="x"
            )
    assert refused.value.code == "insufficient_funds"
    assert refused.value.details == {"available": "0.00000005", "asset": "TON"}
    async with db.service() as session:
        await revoke(session, admin=admin, cause="r2", user=bob, asset=ton, amount=50, reason="x")
    assert await available(db, bob.id, "TON") == 0


async def test_a_refused_welcome_bonus_does_not_stop_new_users(
    db: Database, owner_url: str
) -> None:
    bonus = 20_000_000
    async with as_owner(owner_url) as conn:
        await conn.execute(
            "UPDATE tokens.assets SET max_supply = $1, max_amount = $1 WHERE code = 'VIBE'", bonus
        )
    hook = welcome_bonus(bonus)
    assert hook is not None
    created: list[User] = []
    for telegram_id in (7_001, 7_002, 7_003):
        async with db.service() as session:
            registration = await upsert_from_telegram(
                session,
                TelegramProfile(telegram_id=telegram_id, first_name="New"),
                admin_ids=frozenset(),
                origin=Origin.bot(),
                on_created=(hook,),
            )
        assert registration.created
        created.append(registration.user)
    # The first bonus fits under the cap; the others are refused, and their users exist.
    assert [await available(db, u.id) for u in created] == [bonus, 0, 0]
    async with db.service() as session:
        # The refusal was rolled back with its savepoint: the id is still free.
        with pytest.raises(DomainError) as refused:
            await pay_welcome_bonus(session, created[1], bonus)
    assert refused.value.code == "supply_exceeded"
    # Once there is room, paying the missed bonus later pays it exactly once.
    async with as_owner(owner_url) as conn:
        await conn.execute("UPDATE tokens.assets SET max_supply = 1e18 WHERE code = 'VIBE'")
    async with db.service() as session:
        assert await pay_welcome_bonus(session, created[1], bonus)
    async with db.service() as session:
        assert not await pay_welcome_bonus(session, created[1], bonus)
    assert await available(db, created[1].id) == bonus
    async with db.service() as session:
        again = await create_transfers(
            session,
            [
                Transfer(
                    id=transfer_id("welcome", created[1].id),
                    debit=system_account("issuance"),
                    credit=user_account(created[1].id),
                    asset="VIBE",
                    amount=bonus,
                    code="welcome_bonus",
                )
            ],
        )
    assert again == ["exists"]


async def test_the_bot_explains_limits_and_lets_new_users_in(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
    db: Database,
    owner_url: str,
    catalog: Catalog,
) -> None:
    api, _ = botapi
    async with as_owner(owner_url) as conn:
        # No welcome bonus fits any more, and at most 5 TON may be issued.
        await conn.execute(
            "UPDATE tokens.assets SET max_supply = 1, max_amount = 1 WHERE code = 'VIBE';"
            "UPDATE tokens.assets SET max_supply = 5e9, max_amount = 5e9 WHERE code = 'TON'"
        )
    admin = tg_user(ADMIN_ID, "Root", username="root")
    await send(api, dispatcher, bot, tg_user(301, "Bob", username="bob"), "/balance")
    assert catalog.get("en", "ledger.balance_title") in last_text(api)
    await send(api, dispatcher, bot, admin, "/grant @bob 100000001 TAC too much")
    assert last_text(api) == catalog.get(
        "en", "admin.amount_too_large", max="100000000", asset="TAC"
    )
    await send(api, dispatcher, bot, admin, "/grant @bob 3 TON fine")
    assert last_text(api) == catalog.get(
        "en", "admin.grant_done", amount="3", asset="TON", recipient="@bob"
    )
    await send(api, dispatcher, bot, admin, "/grant @bob 3 TON more")
    assert last_text(api) == catalog.get("en", "admin.supply_exceeded", max="5", asset="TON")


def last_text(api: BotApiServer) -> str:
    return str(api.calls_of("sendMessage")[-1]["text"])
