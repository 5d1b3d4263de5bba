"""The bot's webhook door: `POST /telegram/webhook` on the root app, checked by Telegram's
secret-token header alone (no Mini App envelope, no per-address limit: Telegram posts every
user's updates from a few addresses)."""

from __future__ import annotations

from aiogram import Bot, Dispatcher
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web


def mount_webhook(
    root: web.Application, dispatcher: Dispatcher, bot: Bot, *, path: str, secret: str | None
) -> SimpleRequestHandler:
    handler = SimpleRequestHandler(dispatcher, bot, secret_token=secret)
    handler.register(root, path=path)
    return handler
