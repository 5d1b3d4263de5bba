"""Small builders for ledger tests: users, funding, balances read back as plain ints."""

from __future__ import annotations

import itertools
from uuid import UUID, uuid4

from sqlalchemy import text

from db.database import Database
from db.models import User
from services.ledger.schemas import Transfer
from services.ledger.service import apply, system_account, user_account
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram

_telegram_ids = itertools.count(5_000_000)


async def make_user(
    db: Database, username: str | None = None, telegram_id: int | None = None
) -> User:
    async with db.service() as session:
        registration = await upsert_from_telegram(
            session,
            TelegramProfile(
                telegram_id=telegram_id or next(_telegram_ids),
                username=username,
                first_name=username or "U",
            ),
            admin_ids=frozenset(),
            origin=Origin.miniapp(),
        )
    return registration.user


async def fund(db: Database, user_id: UUID, amount: int, asset: str = "VIBE") -> None:
    async with db.service() as session:
        await apply(
            session,
            [
                Transfer(
                    id=uuid4(),
                    debit=system_account("issuance"),
                    credit=user_account(user_id),
                    asset=asset,
                    amount=amount,
                    code="test_funding",
                )
            ],
        )


async def account(db: Database, address: str, asset: str = "VIBE") -> dict[str, int]:
    """The account's four totals (all zero if it does not exist yet)."""
    async with db.service() as session:
        row = (
            await session.execute(
                text(
                    "SELECT debits_pending, debits_posted, credits_pending, credits_posted "
                    "FROM tokens.accounts WHERE address = :address AND asset = :asset"
                ),
                {"address": address, "asset": asset},
            )
        ).one_or_none()
    names = ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
    return {name: int(row[i]) if row else 0 for i, name in enumerate(names)}


async def available(db: Database, user_id: UUID, asset: str = "VIBE") -> int:
    totals = await account(db, user_account(user_id), asset)
    return totals["credits_posted"] - totals["debits_posted"] - totals["debits_pending"]
