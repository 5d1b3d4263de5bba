"""/start gift_<secret>: claim a gift link or a share of a red packet from the bot."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import Message

from bot.deeplinks import DeepLinkPrefix, deep_link
from bot.handlers.start import welcome
from db.models import User
from services.gifts.usecase import Gifts
from services.i18n import Translator
from services.ledger.amounts import format_amount


async def claim_link(
    message: Message,
    deep_link: str,
    user: User,
    is_new_user: bool,
    t: Translator,
    gifts: Gifts,
    webapp_url: str,
) -> None:
    if is_new_user:
        # Someone arriving by a gift link has not seen the bot yet.
        await welcome(message, user, t, webapp_url)
    claim = await gifts.claim(claimer=user, secret=deep_link)
    amount = format_amount(claim.amount, claim.decimals)
    if claim.message:
        text = t("gifts.claimed_message", amount=amount, asset=claim.asset, message=claim.message)
    else:
        text = t("gifts.claimed", amount=amount, asset=claim.asset)
    await message.answer(text)


def build_router() -> Router:
    router = Router(name="gifts")
    router.message.register(claim_link, deep_link(DeepLinkPrefix.GIFT))
    return router
