"""P2P rules through the service: fees to sharded accounts, bans, welcome bonus."""

from __future__ import annotations

from uuid import uuid4

import pytest
from sqlalchemy import text

from db.database import Database
from services.errors import Forbidden, ValidationError
from services.ledger.schemas import Asset
from services.ledger.service import transfer_id
from services.ledger.welcome import welcome_bonus
from services.transfers.config import P2PRules, ledger_config
from services.transfers.service import resolve_recipient, send
from services.users.schemas import Origin, TelegramProfile
from services.users.service import set_banned, upsert_from_telegram
from tests.ledger_helpers import available, fund, make_user

VIBE = Asset(code="VIBE", name="Good Vibe token", decimals=6, transferable=True)


async def test_sender_pays_the_fee_into_a_fees_shard(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100_000_000)
    rules = P2PRules(fee_bps=250)
    async with db.statement() as conn:
        receipt = await send(
            conn,
            rules,
            sender=ann,
            recipient=bob,
            asset=VIBE,
            amount=10_000_000,
            transfer_id=uuid4(),
        )
    assert (receipt.fee, receipt.replayed) == (250_000, False)
    assert await available(db, ann.id) == 100_000_000 - 10_250_000
    assert await available(db, bob.id) == 10_000_000
    async with db.service() as session:
        fees = await session.scalar(
            text(
                "SELECT sum(credits_posted) FROM tokens.accounts "
                "WHERE kind = 'fees' AND asset = 'VIBE'"
            )
        )
    assert fees == 250_000
    async with db.statement() as conn:
        again = await send(
            conn,
            rules,
            sender=ann,
            recipient=bob,
            asset=VIBE,
            amount=10_000_000,
            transfer_id=receipt.transfer_id,
        )
    assert again.replayed
    assert await available(db, bob.id) == 10_000_000


async def test_fee_rounds_down_and_tiny_amounts_pay_none(db: Database) -> None:
    assert P2PRules(fee_bps=50).fee(199) == 0
    assert P2PRules(fee_bps=50).fee(200) == 1
    assert P2PRules(fee_bps=0).fee(10**30) == 0


async def test_banned_and_self_recipients_are_refused(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 10_000_000)
    async with db.service() as session:
        await set_banned(session, bob.id, True)
    async with db.service() as session:
        banned_bob = await resolve_recipient(session, "@BOB")
    with pytest.raises(Forbidden) as caught:
        async with db.service() as session:
            await send(
                session,
                P2PRules(),
                sender=ann,
                recipient=banned_bob,
                asset=VIBE,
                amount=1_000_000,
                transfer_id=uuid4(),
            )
    assert caught.value.code == "recipient_banned"
    with pytest.raises(ValidationError) as refused:
        async with db.service() as session:
            await send(
                session,
                P2PRules(),
                sender=ann,
                recipient=ann,
                asset=VIBE,
                amount=1_000_000,
                transfer_id=uuid4(),
            )
    assert refused.value.code == "self_transfer"
    frozen = Asset(code="VIBE", name="", decimals=6, transferable=False)
    with pytest.raises(ValidationError, match="cannot be sent"):
        async with db.service() as session:
            await send(
                session,
                P2PRules(),
                sender=ann,
                recipient=banned_bob,
                asset=frozen,
                amount=1_000_000,
                transfer_id=uuid4(),
            )


async def test_recipient_by_telegram_id_username_or_user_id(db: Database) -> None:
    bob = await make_user(db, "Bob_1", telegram_id=424242)
    async with db.service() as session:
        for reference in ("@bob_1", "bob_1", "424242", str(bob.id)):
            assert (await resolve_recipient(session, reference)).id == bob.id


async def test_daily_limit_counts_the_days_transfers(db: Database) -> None:
    ann, bob = await make_user(db, "ann"), await make_user(db, "bob")
    await fund(db, ann.id, 100_000_000)
    rules = P2PRules(fee_bps=0, daily_limit="10")
    for amount in (4_000_000, 6_000_000):
        async with db.service() as session:
            await send(
                session,
                rules,
                sender=ann,
                recipient=bob,
                asset=VIBE,
                amount=amount,
                transfer_id=uuid4(),
            )
    with pytest.raises(Exception) as caught:
        async with db.service() as session:
            await send(
                session,
                rules,
                sender=ann,
                recipient=bob,
                asset=VIBE,
                amount=10_000,
                transfer_id=uuid4(),
            )
    assert getattr(caught.value, "code", None) == "daily_limit_exceeded"
    assert caught.value.details == {"limit": "10", "asset": "VIBE"}  # type: ignore[attr-defined]


async def test_welcome_bonus_once_and_zero_disables(db: Database) -> None:
    hook = welcome_bonus(20_000_000)
    assert hook is not None and welcome_bonus(0) is None
    assert (
        ledger_config(welcome_bonus="0", fee_bps=0, min_amount="1", daily_limit="0").on_created
        == ()
    )
    profile = TelegramProfile(telegram_id=31337, username="newbie")
    for _ in range(2):
        async with db.service() as session:
            registration = await upsert_from_telegram(
                session, profile, admin_ids=frozenset(), origin=Origin.bot(), on_created=(hook,)
            )
    assert await available(db, registration.user.id) == 20_000_000
    # The bonus id derives from the user: a second grant attempt is a replay.
    async with db.service() as session:
        await hook(session, registration.user, Origin.bot())
        count = await session.scalar(
            text("SELECT count(*) FROM tokens.transfers WHERE id = :id"),
            {"id": transfer_id("welcome", registration.user.id)},
        )
    assert count == 1
    assert await available(db, registration.user.id) == 20_000_000
