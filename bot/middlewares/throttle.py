"""Anti-flood on the way in: over the limit, a person is told once, then ignored for the window.

It runs before the user upsert so a flood costs no database work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject
from aiogram.types import User as TelegramUser

from bot.middlewares.refusal import tell
from bot.payments import is_pre_checkout, reports_payment
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter
from services.users.service import language_for


class ThrottleMiddleware(BaseMiddleware):
    def __init__(self, limiter: RateLimiter, warnings: RateLimiter, catalog: Catalog) -> None:
        self._limiter = limiter
        self._warnings = warnings
        self._catalog = catalog

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        # A pre-checkout is no flood: Telegram sends one per press of Pay and fails the payment
        # unless it is answered within 10 s, so throttling it only breaks a purchase in flight.
        if (
            sender is None
            or reports_payment(event)
            or is_pre_checkout(event)
            or await self._limiter.allow(str(sender.id))
        ):
            return await handler(event, data)
        if not await self._warnings.allow(str(sender.id)):
            return None
        text = self._catalog.get(language_for(None, sender.language_code), "error.rate_limited")
        await tell(event, text)
        return None
