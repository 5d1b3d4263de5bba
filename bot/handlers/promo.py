"""/redeem CODE and /start promo_CODE for users; /promo_create and /promo_stats for admins."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.deeplinks import DeepLinkPrefix, deep_link
from bot.filters import IsAdmin
from bot.handlers.start import welcome
from db.models import User
from services.i18n import Translator
from services.ledger.amounts import format_amount, parse_amount
from services.promo.errors import InvalidPromoTerms
from services.promo.schemas import Redemption
from services.promo.usecase import Promos
from services.validation import parse_digits

_RELATIVE = re.compile(r"([0-9]{1,4})([dh])")


async def _answer(message: Message, t: Translator, done: Redemption) -> None:
    await message.answer(
        t(
            "promo.redeemed",
            amount=format_amount(done.amount, done.decimals),
            asset=done.asset,
            code=done.code,
        )
    )


def _cause(message: Message) -> str:
    """The command message: Telegram delivering its update again redeems nothing more."""
    return f"tg:{message.chat.id}:{message.message_id}"


async def redeem(
    message: Message, command: CommandObject, user: User, t: Translator, promos: Promos
) -> None:
    code = (command.args or "").strip()
    if not code:
        await message.answer(t("promo.usage"))
        return
    await _answer(message, t, await promos.redeem(user=user, code=code, cause=_cause(message)))


async def redeem_link(
    message: Message,
    deep_link: str,
    user: User,
    is_new_user: bool,
    t: Translator,
    promos: Promos,
    webapp_url: str,
) -> None:
    if is_new_user:
        # Someone arriving by a promo link has not seen the bot yet.
        await welcome(message, user, t, webapp_url)
    await _answer(message, t, await promos.redeem(user=user, code=deep_link, cause=_cause(message)))


def _expiry(text: str) -> datetime:
    """`7d`, `12h` or a date `2027-01-31` (UTC midnight). Raises InvalidPromoTerms."""
    now = datetime.now(UTC)
    if (match := _RELATIVE.fullmatch(text)) is not None:
        unit = {"d": "days", "h": "hours"}[match[2]]
        return now + timedelta(**{unit: int(match[1])})
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidPromoTerms("expiry is 7d, 12h or YYYY-MM-DD") from None


def _count(text: str) -> int:
    value = parse_digits(text, max_digits=7)
    if value is None or value < 1:
        raise InvalidPromoTerms("max_uses and per_user are whole numbers")
    return value


async def create(
    message: Message, command: CommandObject, user: User, t: Translator, promos: Promos
) -> None:
    words = (command.args or "").split()
    if not 3 <= len(words) <= 6:
        await message.answer(t("promo.create_usage"))
        return
    code, amount_text, asset_code = words[:3]
    asset = await promos.asset(asset_code)
    promo = await promos.create(
        admin=user,
        code=code,
        asset=asset.code,
        amount=parse_amount(amount_text, asset.decimals),
        max_uses=_count(words[3]) if len(words) > 3 else 1,
        per_user=_count(words[4]) if len(words) > 4 else 1,
        expires_at=_expiry(words[5]) if len(words) > 5 else None,
    )
    await message.answer(
        t(
            "promo.created",
            code=promo.code,
            amount=format_amount(promo.amount, promo.decimals),
            asset=promo.asset,
            uses=promo.max_uses,
            budget=format_amount(promo.budget, promo.decimals),
        )
    )


async def stats(
    message: Message, command: CommandObject, user: User, t: Translator, promos: Promos
) -> None:
    code = (command.args or "").strip()
    if not code:
        await message.answer(t("promo.stats_usage"))
        return
    promo, rows = await promos.stats(admin=user, code=code)
    lines = [
        t(
            "promo.stats",
            code=promo.code,
            used=promo.used,
            uses=promo.max_uses,
            paid=format_amount(promo.paid, promo.decimals),
            budget=format_amount(promo.budget, promo.decimals),
            asset=promo.asset,
            active=t("promo.active_yes" if promo.active else "promo.active_no"),
        )
    ]
    # The latest ten; the whole list is the API's CSV export.
    for row in rows[-10:]:
        who = f"@{row.username}" if row.username else str(row.telegram_id)
        lines.append(f"{row.use_number}. {who} {row.redeemed_at:%Y-%m-%d %H:%M} UTC")
    await message.answer("\n".join(lines))


async def refuse(message: Message, t: Translator) -> None:
    await message.answer(t("admin.refused"))


def build_router() -> Router:
    router = Router(name="promo")
    router.message.register(redeem_link, deep_link(DeepLinkPrefix.PROMO))
    router.message.register(redeem, Command("redeem"))
    admin = Command("promo_create", "promo_stats")
    router.message.register(create, Command("promo_create"), IsAdmin())
    router.message.register(stats, Command("promo_stats"), IsAdmin())
    router.message.register(refuse, admin)
    return router
