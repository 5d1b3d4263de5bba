"""/balance and /history: the user's tokens, read back in human amounts."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from db.database import Database
from db.models import User
from services.i18n import Translator
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.balances import balances
from services.ledger.history import history
from services.ledger.schemas import TransactionOut

HISTORY_SIZE = 10


async def show_balance(message: Message, user: User, t: Translator, db: Database) -> None:
    async with db.user(user.id) as session:
        rows = await balances(session)
    lines = [t("ledger.balance_title")]
    for row in rows:
        if row.asset != DEFAULT_ASSET and row.posted == "0" and row.pending == "0":
            continue
        available = format_amount(int(row.available), row.decimals)
        if row.pending == "0":
            lines.append(t("ledger.balance_line", asset=row.asset, available=available))
        else:
            held = format_amount(int(row.pending), row.decimals)
            lines.append(
                t("ledger.balance_line_held", asset=row.asset, available=available, pending=held)
            )
    await message.answer("\n".join(lines))


def history_line(t: Translator, item: TransactionOut) -> str:
    if item.counterparty is not None:
        who = (
            f"@{item.counterparty.username}"
            if item.counterparty.username
            else item.counterparty.first_name
        )
    else:
        try:
            who = t(f"ledger.code.{item.code}")
        except KeyError:
            who = item.code
    amount = format_amount(int(item.amount), item.decimals)
    key = "ledger.history_in" if item.direction == "in" else "ledger.history_out"
    line = t(key, amount=amount, asset=item.asset, who=who)
    if item.status != "posted":
        line += " · " + t(f"ledger.status.{item.status}")
    return line


async def show_history(message: Message, user: User, t: Translator, db: Database) -> None:
    async with db.service() as session:
        page = await history(session, user.id, limit=HISTORY_SIZE)
    if not page.items:
        await message.answer(t("ledger.history_empty"))
        return
    await message.answer(
        "\n".join([t("ledger.history_title"), *(history_line(t, i) for i in page.items)])
    )


def build_router() -> Router:
    router = Router(name="wallet")
    router.message.register(show_balance, Command("balance"))
    router.message.register(show_history, Command("history"))
    return router
