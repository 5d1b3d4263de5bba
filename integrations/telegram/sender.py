"""The outbox's MessageSender over aiogram: Telegram's errors become delivery outcomes."""

from __future__ import annotations

from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardMarkup

from services.notifications.delivery import Blocked, Delivered, Failed, Outcome, RetryAfter


class BotMessageSender:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def send_message(
        self, chat_id: int, text: str, reply_markup: dict[str, Any] | None
    ) -> Outcome:
        markup = InlineKeyboardMarkup.model_validate(reply_markup) if reply_markup else None
        try:
            await self._bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramRetryAfter as exc:
            return RetryAfter(float(exc.retry_after))
        except TelegramForbiddenError as exc:
            return Blocked(exc.message)
        except TelegramBadRequest as exc:
            return Failed(exc.message, permanent=True)
        except (TelegramNetworkError, TelegramServerError) as exc:
            return Failed(str(exc), permanent=False)
        return Delivered()
