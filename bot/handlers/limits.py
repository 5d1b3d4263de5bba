"""/limits: the P2P daily limit per asset, used today and left, as `GET /api/v1/limits` shows."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from db.database import Database
from db.models import User
from services.i18n import Translator
from services.ledger.amounts import format_amount
from services.spending_limits.schemas import DailyLimitOut
from services.spending_limits.service import daily_limits
from services.transfers.config import LedgerConfig


def limit_line(t: Translator, row: DailyLimitOut) -> str:
    used = format_amount(int(row.used), row.decimals)
    if row.limit is None or row.left is None:
        return t("limits.line_unlimited", asset=row.asset, used=used)
    return t(
        "limits.line",
        asset=row.asset,
        used=used,
        limit=format_amount(int(row.limit), row.decimals),
        left=format_amount(int(row.left), row.decimals),
    )


async def show_limits(
    message: Message, user: User, t: Translator, db: Database, ledger: LedgerConfig
) -> None:
    async with db.user(user.id) as session:
        rows = await daily_limits(session, ledger.p2p, ledger.assets)
    lines = [t("limits.title"), *(limit_line(t, row) for row in rows)]
    if rows:
        seconds = (rows[0].resets_at - datetime.now(UTC)).total_seconds()
        lines.append(t("limits.resets", hours=max(1, math.ceil(seconds / 3600))))
    await message.answer("\n".join(lines))


def build_router() -> Router:
    router = Router(name="limits")
    router.message.register(show_limits, Command("limits"))
    return router
