"""The Stars gateway over aiogram: invoice links, refunds and the bot's Star transactions."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import LabeledPrice, StarTransaction, TransactionPartnerUser

from services.purchases.errors import RefundFailed, StarsUnavailable, TelegramUnavailable
from services.purchases.schemas import CURRENCY, StarsTransaction

# The partner's transaction type of a payment for an invoice (and of its refund).
_INVOICE_PAYMENT = "invoice_payment"


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
        # aiogram caches getMe on the Bot: only the first call can find Telegram away, and a
        # refused connection must not read as the database's (both are OSErrors to the API).
        try:
            return (await self._bot.me()).username or ""
        except TelegramAPIError as exc:
            raise TelegramUnavailable("Telegram did not say the bot's username") from exc

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

    async def transactions(self, *, offset: int, limit: int) -> list[StarsTransaction]:
        try:
            page = await self._bot.get_star_transactions(offset=offset, limit=limit)
        except TelegramAPIError as exc:
            raise StarsUnavailable("Telegram did not list the Star transactions") from exc
        return [_transaction(t) for t in page.transactions]


def _transaction(t: StarTransaction) -> StarsTransaction:
    """A payment comes from the user (`source`); its refund goes to them (`receiver`) and
    carries the payment's id."""
    for kind, partner in (("payment", t.source), ("refund", t.receiver)):
        if (
            isinstance(partner, TransactionPartnerUser)
            and partner.transaction_type == _INVOICE_PAYMENT
        ):
            return StarsTransaction(
                t.id,
                "payment" if kind == "payment" else "refund",
                t.amount,
                telegram_id=partner.user.id,
                payload=partner.invoice_payload,
            )
    return StarsTransaction(t.id, "other", t.amount)
