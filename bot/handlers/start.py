from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from bot.deeplinks import DeepLinkContext, DeepLinks
from db.database import Database
from db.models import User
from services.i18n import Translator


def open_app_keyboard(t: Translator, webapp_url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("start.open_app"), web_app=WebAppInfo(url=webapp_url))]
        ]
    )


async def start(
    message: Message,
    command: CommandObject,
    user: User,
    is_new_user: bool,
    t: Translator,
    db: Database,
    deep_links: DeepLinks,
    webapp_url: str,
) -> None:
    await message.answer(
        t("start.welcome", name=user.first_name or user.username or ""),
        reply_markup=open_app_keyboard(t, webapp_url),
    )
    if not command.args:
        return
    resolved = deep_links.resolve(command.args)
    if resolved is None:
        await message.answer(t("start.payload_unknown"))
        return
    handler, value = resolved
    reply = await handler(DeepLinkContext(db=db, user=user, is_new_user=is_new_user, value=value))
    if reply is not None:
        key, params = reply
        await message.answer(t(key, **params))


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    return router
