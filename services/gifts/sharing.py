"""A gift link as a message to share: the same words and Claim button in the bot's inline
results and in a prepared message for the Mini App's `shareMessage`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.gifts.schemas import Gift
from services.i18n import Translator
from services.ledger.amounts import format_amount


@dataclass(frozen=True)
class ShareMessage:
    """An InlineQueryResultArticle's parts: Telegram HTML `text`, one URL button."""

    id: str
    title: str
    description: str
    text: str
    button: str
    url: str


class ShareGateway(Protocol):
    """Telegram's savePreparedInlineMessage (`integrations/telegram/gift_share.py`)."""

    async def prepare(self, *, telegram_id: int, message: ShareMessage) -> str:
        """The prepared message's id for `Telegram.WebApp.shareMessage`. Raises
        ShareUnavailable when Telegram does not prepare it."""
        ...


def share_message(gift: Gift, *, sender: str, url: str, t: Translator) -> ShareMessage:
    """`gift` with its claim link `url`, worded in the sharer's language."""
    amount = format_amount(gift.amount, gift.decimals)
    params = {"sender": sender, "amount": amount, "asset": gift.asset}
    if gift.kind == "packet":
        left = gift.shares - gift.claimed_shares
        title = t("gifts.inline_packet_title", **params, left=left, shares=gift.shares)
        text = t("gifts.inline_packet_message", **params, shares=gift.shares)
    else:
        title = t("gifts.inline_link_title", **params)
        text = t("gifts.inline_link_message", **params)
    if gift.message:
        text += "\n" + t("gifts.inline_note", message=gift.message)
    return ShareMessage(
        id=gift.id.hex,
        title=title,
        description=gift.message or t("gifts.inline_description"),
        text=text,
        button=t("gifts.inline_claim"),
        url=url,
    )
