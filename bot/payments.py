"""Payment updates a middleware must treat apart: reports of money Telegram already moved,
and the pre-checkout Telegram waits on before it moves any."""

from __future__ import annotations

from aiogram.types import Message, PreCheckoutQuery, TelegramObject, Update


def reports_payment(event: TelegramObject) -> bool:
    """A `successful_payment` or `refunded_payment` message: the Stars moved whatever we think
    of the sender now (banned since the pre-checkout, over the flood limit), so its handler
    must run to credit or reverse the tokens."""
    inner = event.event if isinstance(event, Update) else event
    return isinstance(inner, Message) and (
        inner.successful_payment is not None or inner.refunded_payment is not None
    )


def is_pre_checkout(event: TelegramObject) -> bool:
    """A `pre_checkout_query`: Telegram sends one only when the person presses Pay, and fails
    the payment unless the bot answers it within 10 seconds."""
    inner = event.event if isinstance(event, Update) else event
    return isinstance(inner, PreCheckoutQuery)
