"""/start: the welcome, and the fallback for deep links no capability took (`bot.deeplinks`)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message, WebAppInfo

from db.models import User
from services.i18n import Translator


def open_app_keyboard(t: Translator, webapp_url: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=t("start.open_app"), web_app=WebAppInfo(url=webapp_url))]
        ]
    )


async def welcome(message: Message, user: User, t: Translator, webapp_url: str) -> None:
    """The greeting with the Mini App button; a capability's deep-link handler sends it too."""
    await message.answer(
        t("start.welcome", name=user.first_name or user.username or ""),
        reply_markup=open_app_keyboard(t, webapp_url),
    )


async def start(
    message: Message, command: CommandObject, user: User, t: Translator, webapp_url: str
) -> None:
    await welcome(message, user, t, webapp_url)
    if command.args:
        # No capability's router took this payload: unknown prefix, or malformed.
        await message.answer(t("start.payload_unknown"))


def build_router() -> Router:
    router = Router(name="start")
    router.message.register(start, CommandStart())
    return router
