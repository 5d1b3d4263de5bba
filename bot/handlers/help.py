from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message

from services.i18n import Translator


async def help_command(message: Message, t: Translator) -> None:
    await message.answer(t("help.text"))


def build_router() -> Router:
    router = Router(name="help")
    router.message.register(help_command, Command("help"))
    return router
