"""The bot's client for the Bot API: Telegram's, a local Bot API server, or the sandbox."""

from __future__ import annotations

from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode


def make_bot(token: str, api_base: str) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_base))
    return Bot(token, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
