"""The command menu, set per language at start-up."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.types import BotCommand

from services.i18n import Catalog


def menu(capability_commands: Sequence[str]) -> tuple[str, ...]:
    """The door's own commands around the capabilities' (each described by `commands.<name>`)."""
    return ("start", "help", *capability_commands, "language")


def menu_for(catalog: Catalog, language: str, commands: Sequence[str]) -> list[BotCommand]:
    return [
        BotCommand(command=name, description=catalog.get(language, f"commands.{name}"))
        for name in commands
    ]


async def set_command_menu(bot: Bot, catalog: Catalog, commands: Sequence[str]) -> None:
    await bot.set_my_commands(menu_for(catalog, "en", commands))
    for language in catalog.languages:
        await bot.set_my_commands(menu_for(catalog, language, commands), language_code=language)
