"""How a middleware that stops an update tells the person why."""

from __future__ import annotations

from aiogram.types import CallbackQuery, InlineQuery, Message, TelegramObject, Update


async def tell(event: TelegramObject, text: str) -> None:
    """A reply to a message, an alert for a button, no results for an inline query (its
    client stops waiting); other updates get nothing to answer."""
    inner = event.event if isinstance(event, Update) else event
    if isinstance(inner, Message):
        await inner.answer(text)
    elif isinstance(inner, CallbackQuery):
        await inner.answer(text, show_alert=True)
    elif isinstance(inner, InlineQuery):
        await inner.answer([], cache_time=0, is_personal=True)
