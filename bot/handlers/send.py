"""/send @user 10.5 [ASSET] [note]: a confirmation with Confirm / Cancel, acted on once."""

from __future__ import annotations

from uuid import UUID

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from db.models import User
from services.i18n import Translator
from services.ledger.amounts import format_amount
from services.transfers.service import display_name
from services.transfers.usecase import Transfers
from services.validation import nfc


class SendDecision(CallbackData, prefix="send"):
    """`send:ok:<request hex>`. Forged data (`send:ok:zz`) does not unpack, so no handler
    here matches and the fallback router answers it."""

    action: str
    request: UUID


def confirm_keyboard(t: Translator, request_id: UUID) -> InlineKeyboardMarkup:
    def button(key: str, action: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(
            text=t(key), callback_data=SendDecision(action=action, request=request_id).pack()
        )

    return InlineKeyboardMarkup(
        inline_keyboard=[[button("send.confirm_button", "ok"), button("send.cancel_button", "no")]]
    )


async def send_command(
    message: Message,
    command: CommandObject,
    user: User,
    t: Translator,
    confirmed_transfers: Transfers,
) -> None:
    words = (command.args or "").split()
    if len(words) < 2:
        await message.answer(t("send.usage"))
        return
    reference, amount_text, rest = words[0], words[1], words[2:]
    asset = (
        rest.pop(0).upper()
        if rest and rest[0].upper() in await confirmed_transfers.known_assets()
        else None
    )
    proposal = await confirmed_transfers.propose(
        sender=user,
        recipient=reference,
        amount=amount_text,
        asset=asset,
        # NFC, as the API's SafeText; what the service refuses it still refuses.
        memo=nfc(" ".join(rest)) or None,
    )
    decimals = proposal.asset.decimals
    await message.answer(
        t(
            "send.confirm",
            amount=format_amount(proposal.amount, decimals),
            asset=proposal.asset.code,
            recipient=display_name(proposal.recipient),
            fee=format_amount(proposal.fee, decimals),
        ),
        reply_markup=confirm_keyboard(t, proposal.id),
    )


async def send_confirmed(
    query: CallbackQuery,
    callback_data: SendDecision,
    user: User,
    t: Translator,
    confirmed_transfers: Transfers,
) -> None:
    receipt = await confirmed_transfers.confirm(sender=user, request_id=callback_data.request)
    await query.answer()
    if isinstance(query.message, Message):
        decimals = receipt.asset.decimals
        await query.message.edit_text(
            t(
                "send.done",
                amount=format_amount(receipt.amount, decimals),
                asset=receipt.asset.code,
                recipient=display_name(receipt.recipient),
                fee=format_amount(receipt.fee, decimals),
            )
        )


async def send_cancelled(
    query: CallbackQuery,
    callback_data: SendDecision,
    user: User,
    t: Translator,
    confirmed_transfers: Transfers,
) -> None:
    await confirmed_transfers.cancel(sender=user, request_id=callback_data.request)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(t("send.cancelled"))


def build_router() -> Router:
    router = Router(name="send")
    router.message.register(send_command, Command("send"))
    router.callback_query.register(send_confirmed, SendDecision.filter(F.action == "ok"))
    router.callback_query.register(send_cancelled, SendDecision.filter(F.action == "no"))
    return router
