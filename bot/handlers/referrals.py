"""/start ref_<code>, /invite, and the admins' fraud review (/flags, /flag, /flag_approve,
/flag_reject)."""

from __future__ import annotations

import html
import json
from urllib.parse import quote

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.deeplinks import DeepLinkPrefix, deep_link
from bot.filters import IsAdmin
from bot.handlers.start import welcome
from db.database import Database
from db.models import User
from services.i18n import Translator
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS
from services.purchases.usecase import Purchases
from services.referrals.fraud import decide, get_flag, open_flags
from services.referrals.service import deep_link_outcome, summary


def vibe(units: str) -> str:
    return format_amount(int(units), DEFAULT_ASSET_DECIMALS)


async def accept_referral(
    message: Message, deep_link: str, user: User, t: Translator, db: Database, webapp_url: str
) -> None:
    """The binding itself happened (or not) when the user was created; this says which."""
    async with db.service() as session:
        outcome = await deep_link_outcome(session, user.id, deep_link)
    await welcome(message, user, t, webapp_url)
    await message.answer(
        t(f"referrals.link_{outcome.binding.value}", name=html.escape(outcome.referrer_name or ""))
    )


async def invite(
    message: Message, user: User, t: Translator, db: Database, purchases: Purchases, bot: Bot
) -> None:
    username = purchases.bot_username or (await bot.me()).username or ""
    async with db.user(user.id) as session:
        out = await summary(session, user, bot_username=username, app_name=purchases.app_name)
    lines = [t("referrals.invite", link=out.link)]
    lines += [
        t(
            "referrals.level_line",
            level=row.level,
            referees=row.referees,
            pending=vibe(row.pending),
            available=vibe(row.available),
        )
        for row in out.levels
    ]
    lines.append(
        t(
            "referrals.totals",
            pending=vibe(out.totals["pending"]),
            available=vibe(out.totals["available"]),
        )
    )
    share_text = quote(t("referrals.share_text"), safe="")
    share = f"https://t.me/share/url?url={quote(out.link, safe='')}&text={share_text}"
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t("referrals.share_button"), url=share)]]
    )
    await message.answer("\n".join(lines), reply_markup=keyboard)


async def list_flags(message: Message, t: Translator, db: Database) -> None:
    async with db.service() as session:
        flags = await open_flags(session)
    if not flags:
        await message.answer(t("referrals.flags_none"))
        return
    lines = [t("referrals.flags_title")]
    lines += [
        t(
            "referrals.flag_line",
            id=f.id,
            rule=f.rule,
            score=f.score,
            name=html.escape(f.name),
            telegram_id=f.telegram_id,
        )
        for f in flags
    ]
    await message.answer("\n".join(lines))


def _flag_id(command: CommandObject) -> int | None:
    words = (command.args or "").split()
    if not words or not words[0].isascii() or not words[0].isdigit() or len(words[0]) > 18:
        return None
    return int(words[0])


async def show_flag(message: Message, command: CommandObject, t: Translator, db: Database) -> None:
    flag_id = _flag_id(command)
    if flag_id is None:
        await message.answer(t("referrals.flag_usage"))
        return
    async with db.service() as session:
        flag = await get_flag(session, flag_id)
    evidence = json.dumps(flag.evidence, ensure_ascii=False, sort_keys=True)
    await message.answer(
        t(
            "referrals.flag_detail",
            id=flag.id,
            rule=flag.rule,
            score=flag.score,
            name=html.escape(flag.name),
            telegram_id=flag.telegram_id,
            status=flag.status,
            evidence=html.escape(evidence),
        )
    )


async def decide_flag(
    message: Message, command: CommandObject, user: User, t: Translator, db: Database
) -> None:
    flag_id = _flag_id(command)
    if flag_id is None:
        await message.answer(t("referrals.flag_usage"))
        return
    approve = (command.command or "").lower() == "flag_approve"
    ban = not approve and "ban" in (command.args or "").lower().split()[1:]
    async with db.service() as session:
        decision = await decide(session, user, flag_id, approve=approve, ban=ban)
    await message.answer(
        t(f"referrals.flag_{decision.status}", id=decision.flag_id, voided=decision.voided)
    )


async def refuse(message: Message, t: Translator) -> None:
    await message.answer(t("admin.refused"))


def build_router() -> Router:
    router = Router(name="referrals")
    router.message.register(accept_referral, deep_link(DeepLinkPrefix.REFERRAL))
    router.message.register(invite, Command("invite"))
    admin = Command("flags", "flag", "flag_approve", "flag_reject")
    router.message.register(list_flags, Command("flags"), IsAdmin())
    router.message.register(show_flag, Command("flag"), IsAdmin())
    router.message.register(decide_flag, Command("flag_approve", "flag_reject"), IsAdmin())
    router.message.register(refuse, admin)
    return router
