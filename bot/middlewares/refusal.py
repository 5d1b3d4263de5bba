"""How a middleware that stops an update tells the person why."""

from __future__ import annotations

from aiogram.types import (
    CallbackQuery,
    InlineQuery,
    Message,
    PreCheckoutQuery,
    TelegramObject,
    Update,
)


async def tell(event: TelegramObject, text: str) -> None:
    """A reply to a message, an alert for a button, a declined checkout with the text as its
    reason, no results for an inline query; other updates get nothing to answer.

    A query is always answered: its client waits for the answer (a checkout unanswered for
    10 s fails with Telegram's own error, not ours)."""
    inner = event.event if isinstance(event, Update) else event
    if isinstance(inner, Message):
        await inner.answer(text)
    elif isinstance(inner, CallbackQuery):
        await inner.answer(text, show_alert=True)
    elif isinstance(inner, PreCheckoutQuery):
        await inner.answer(ok=False, error_message=text)
    elif isinstance(inner, InlineQuery):
        await inner.answer([], cache_time=0, is_personal=True)
