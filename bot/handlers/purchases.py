"""/buy: token packs for Telegram Stars; the payment flow; admin /refund."""

from __future__ import annotations

import html
import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)

from bot.filters import IsAdmin
from db.models import User
from services.errors import DomainError
from services.i18n import Translator
from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS
from services.purchases.errors import InvalidInvoice, PurchaseNotFound, TokensSpent
from services.purchases.packs import Pack
from services.purchases.schemas import CURRENCY, InvoiceTerms
from services.purchases.service import check_pre_checkout, pack_of
from services.purchases.usecase import Purchases
from services.validation import clean_text

log = logging.getLogger(__name__)


class BuyPack(CallbackData, prefix="buy"):
    pack_id: str


def vibe(units: int) -> str:
    return format_amount(units, DEFAULT_ASSET_DECIMALS)


def invoice_texts(t: Translator, pack: Pack) -> tuple[str, str]:
    return (
        t("purchases.invoice_title", vibe=vibe(pack.vibe)),
        t("purchases.invoice_description", vibe=vibe(pack.vibe), stars=pack.stars),
    )


async def show_packs(message: Message, t: Translator, purchases: Purchases) -> None:
    rows = [
        [
            InlineKeyboardButton(
                text=t("purchases.pack_button", vibe=vibe(pack.vibe), stars=pack.stars),
                callback_data=BuyPack(pack_id=pack.id).pack(),
            )
        ]
        for pack in purchases.packs
    ]
    await message.answer(
        t("purchases.packs"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
    )


async def send_invoice(
    query: CallbackQuery, callback_data: BuyPack, user: User, t: Translator, purchases: Purchases
) -> None:
    pack = pack_of(purchases.config, callback_data.pack_id)
    title, description = invoice_texts(t, pack)
    await query.answer()
    if query.message is None:
        return
    await query.bot.send_invoice(  # type: ignore[union-attr]
        chat_id=query.message.chat.id,
        title=title,
        description=description,
        payload=InvoiceTerms.of(pack, user.telegram_id).payload(),
        currency=CURRENCY,
        prices=[LabeledPrice(label=title, amount=pack.stars)],
    )


async def pre_checkout(
    query: PreCheckoutQuery, user: User, t: Translator, purchases: Purchases
) -> None:
    """Answered from memory and the user row already read: well within Telegram's 10 s."""
    try:
        check_pre_checkout(
            purchases.config,
            payer=user,
            payload=query.invoice_payload,
            currency=query.currency,
            total=query.total_amount,
        )
    except DomainError as error:
        await query.answer(ok=False, error_message=t(f"error.{error.code}", **error.details))
        return
    await query.answer(ok=True)


async def paid(message: Message, user: User, t: Translator, purchases: Purchases) -> None:
    payment = message.successful_payment
    assert payment is not None
    try:
        credit = await purchases.credit(
            user,
            charge_id=payment.telegram_payment_charge_id,
            payload=payment.invoice_payload,
            currency=payment.currency,
            total=payment.total_amount,
        )
    except InvalidInvoice:
        # Telegram took Stars for an invoice we cannot match: a person must look at it.
        log.error("payment %s matches no invoice of ours", payment.telegram_payment_charge_id)
        raise
    except DomainError:
        raise
    except Exception:
        # Telegram took the Stars and sends this update once: the Stars reconciliation
        # (services/purchases/tasks.py) credits it from Telegram's own record of the payment.
        log.exception(
            "payment %s not credited yet; the Stars reconciliation will",
            payment.telegram_payment_charge_id,
        )
        await message.answer(t("purchases.credit_delayed"))
        return
    if credit.replayed:
        return
    await message.answer(t("purchases.credited", vibe=vibe(credit.vibe)))
    if credit.settled:
        await message.answer(t("purchases.debt_settled", vibe=vibe(credit.settled)))


async def refunded(message: Message, t: Translator, purchases: Purchases) -> None:
    payment = message.refunded_payment
    assert payment is not None
    try:
        # The buyer is told by the outbox, in the transaction that records the refund.
        await purchases.refunded(payment.telegram_payment_charge_id)
    except PurchaseNotFound:
        # Stars of a payment never credited went back: nothing of ours to reverse.
        log.warning("refund of %s, which no purchase has", payment.telegram_payment_charge_id)


async def refund(
    message: Message, command: CommandObject, t: Translator, purchases: Purchases
) -> None:
    words = (command.args or "").split()
    if not 1 <= len(words) <= 2 or (len(words) == 2 and words[1].lower() != "force"):
        await message.answer(t("purchases.refund_usage"))
        return
    charge_id = clean_text(words[0], max_length=255)
    try:
        result = await purchases.refund(charge_id, force=len(words) == 2)
    except TokensSpent as error:
        figures = {k: vibe(int(v)) for k, v in error.details.items()}
        await message.answer(
            t("purchases.refund_spent", charge_id=html.escape(charge_id), **figures)
        )
        return
    await message.answer(
        t(
            "purchases.refund_done",
            charge_id=html.escape(charge_id),
            reversed=vibe(result.reversed),
            debt=vibe(result.debt),
            voided=result.voided,
        )
    )


async def refuse(message: Message, t: Translator) -> None:
    await message.answer(t("admin.refused"))


def build_router() -> Router:
    router = Router(name="purchases")
    router.message.register(show_packs, Command("buy"))
    router.callback_query.register(send_invoice, BuyPack.filter())
    router.pre_checkout_query.register(pre_checkout)
    router.message.register(paid, F.successful_payment)
    router.message.register(refunded, F.refunded_payment)
    router.message.register(refund, Command("refund"), IsAdmin())
    router.message.register(refuse, Command("refund"))
    return router
