"""The command menu, set per language at start-up."""

from __future__ import annotations

from aiogram import Bot
from aiogram.types import BotCommand

from services.i18n import Catalog

MENU = ("start", "help", "balance", "send", "history", "language")


def menu_for(catalog: Catalog, language: str) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=catalog.get(language, f"commands.{name}"))
        for name in MENU
    ]


async def set_command_menu(bot: Bot, catalog: Catalog) -> None:
    await bot.set_my_commands(menu_for(catalog, "en"))
    for language in catalog.languages:
        await bot.set_my_commands(menu_for(catalog, language), language_code=language)
