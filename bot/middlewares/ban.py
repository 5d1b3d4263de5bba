"""A banned user gets one polite refusal per update and nothing else runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import (
    CallbackQuery,
    InlineQuery,
    Message,
    PreCheckoutQuery,
    TelegramObject,
    Update,
)

from bot.payments import reports_payment
from db.models import User
from services.i18n import Translator
from services.users.access import is_banned


class BanMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user: User | None = data.get("user")
        if user is None or not is_banned(user) or reports_payment(event):
            return await handler(event, data)
        t: Translator = data["t"]
        inner = event.event if isinstance(event, Update) else event
        if isinstance(inner, Message):
            await inner.answer(t("banned"))
        elif isinstance(inner, CallbackQuery):
            await inner.answer(t("banned"), show_alert=True)
        elif isinstance(inner, PreCheckoutQuery):
            await inner.answer(ok=False, error_message=t("banned"))
        elif isinstance(inner, InlineQuery):
            await inner.answer([], cache_time=0, is_personal=True)
        return None
