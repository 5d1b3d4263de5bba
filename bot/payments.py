"""Updates that report money Telegram already moved: no middleware may drop them."""

from __future__ import annotations

from aiogram.types import Message, TelegramObject, Update


def reports_payment(event: TelegramObject) -> bool:
    """A `successful_payment` or `refunded_payment` message: the Stars moved whatever we think
    of the sender now (banned since the pre-checkout, over the flood limit), so its handler
    must run to credit or reverse the tokens."""
    inner = event.event if isinstance(event, Update) else event
    return isinstance(inner, Message) and (
        inner.successful_payment is not None or inner.refunded_payment is not None
    )
