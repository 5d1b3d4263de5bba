"""The Stars gateway over aiogram: invoice links and refunds."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import LabeledPrice

from services.purchases.errors import RefundFailed, StarsUnavailable
from services.purchases.schemas import CURRENCY


class BotStars:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def invoice_link(self, *, title: str, description: str, payload: str, stars: int) -> str:
        try:
            return await self._bot.create_invoice_link(
                title=title,
                description=description,
                payload=payload,
                currency=CURRENCY,
                prices=[LabeledPrice(label=title, amount=stars)],
            )
        except TelegramAPIError as exc:
            raise StarsUnavailable("Telegram did not make an invoice link") from exc

    async def bot_username(self) -> str:
        # aiogram caches getMe on the Bot.
        return (await self._bot.me()).username or ""

    async def refund(self, *, telegram_id: int, charge_id: str) -> None:
        try:
            await self._bot.refund_star_payment(
                user_id=telegram_id, telegram_payment_charge_id=charge_id
            )
        except TelegramBadRequest as exc:
            if "CHARGE_ALREADY_REFUNDED" in exc.message:
                return
            raise RefundFailed("Telegram refused the refund", reason=exc.message) from exc
        except TelegramAPIError as exc:
            raise RefundFailed("Telegram refused the refund", reason=str(exc)) from exc
