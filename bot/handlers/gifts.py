"""Gifts in the bot: `/start gift_<secret>` claims; inline mode (`@bot gift 10 [ASSET] [message]`)
shares the user's open gift links as ready messages with a Claim button.

Typing an inline query never moves money: the results are links the user already made (their
escrow exists), and a new link is made in the Mini App, which the results' button opens with
the amount filled in (Telegram's documented way back: the Mini App calls `switchInlineQuery`,
and the new link is then among the results). No `chosen_inline_result` is needed, so a link
never reaches a chat before its escrow does.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

from aiogram import Router
from aiogram.types import (
    InlineQuery,
    InlineQueryResultsButton,
    InlineQueryResultUnion,
    Message,
    WebAppInfo,
)

from bot.deeplinks import DeepLinkPrefix, deep_link
from bot.handlers.start import welcome
from db.models import User
from integrations.telegram.gift_share import article
from services.errors import DomainError
from services.gifts.schemas import MAX_MESSAGE
from services.gifts.sharing import share_message
from services.gifts.usecase import Gifts
from services.i18n import Translator
from services.ledger.amounts import format_amount, parse_amount
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.schemas import Asset
from services.transfers.service import display_name

# `gift`, then an optional amount, an optional asset code, an optional message.
_QUERY = re.compile(r"(?is)\s*gift\b\s*(?P<amount>\S+)?\s*(?P<rest>.*)")
# An asset written as a code (`TAC`, `VIBE`): a third word like this is the asset, not the
# start of a message, and must exist.
_ASSET_CODE = re.compile(r"[A-Z][A-Z0-9]{1,11}")
# Results change as links are made and claimed: Telegram must not reuse an answer for long.
CACHE_SECONDS = 5


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


class BadQuery(Exception):
    """An inline query we cannot read: `text` says why, short enough for the results' button."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


async def _wanted(
    query: str, gifts: Gifts, t: Translator
) -> tuple[Asset | None, int | None, str | None]:
    """(asset, amount, message) of `gift <amount> [ASSET] [message]`; all None for a bare
    `gift` or anything else. Raises BadQuery."""
    match = _QUERY.fullmatch(query)
    if match is None or match["amount"] is None:
        return None, None, None
    head, _, tail = match["rest"].strip().partition(" ")
    code = DEFAULT_ASSET
    if head and (_ASSET_CODE.fullmatch(head) or await _known(gifts, head)):
        code, rest = head.upper(), tail.strip()
    else:
        rest = match["rest"].strip()
    try:
        asset = await gifts.asset(code)
    except DomainError:
        raise BadQuery(t("gifts.inline_bad_asset", asset=code[:12])) from None
    try:
        amount = parse_amount(match["amount"], asset.decimals)
        gifts.check_amount(asset, amount)
    except DomainError as error:
        if error.code == "too_many_decimals":
            raise BadQuery(
                t("gifts.inline_too_many_decimals", asset=asset.code, decimals=asset.decimals)
            ) from None
        if error.code == "amount_too_large":
            raise BadQuery(t("gifts.inline_too_large", asset=asset.code)) from None
        raise BadQuery(t("gifts.inline_bad_amount", asset=asset.code)) from None
    if len(rest) > MAX_MESSAGE:
        raise BadQuery(t("gifts.inline_long_message", max=MAX_MESSAGE))
    return asset, amount, rest or None


async def _known(gifts: Gifts, code: str) -> bool:
    try:
        await gifts.asset(code)
    except DomainError:
        return False
    return True


def _app_url(webapp_url: str, **params: str) -> str:
    """The Mini App's gifts form, filled in: query parameters, since Telegram puts its launch
    data in the fragment."""
    parts = urlsplit(webapp_url)
    query = "&".join(filter(None, (parts.query, urlencode(params))))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


async def share_links(
    inline_query: InlineQuery, user: User, t: Translator, gifts: Gifts, webapp_url: str
) -> None:
    try:
        asset, amount, message = await _wanted(inline_query.query, gifts, t)
    except BadQuery as bad:
        button = InlineQueryResultsButton(
            text=bad.text[:64], web_app=WebAppInfo(url=_app_url(webapp_url, gift="new"))
        )
        await inline_query.answer([], cache_time=CACHE_SECONDS, is_personal=True, button=button)
        return
    links = await gifts.open_links(user)
    if asset is not None:
        links = [g for g in links if (g.asset, g.amount) == (asset.code, amount)]
    sender = display_name(user)
    results: list[InlineQueryResultUnion] = [
        article(share_message(g, sender=sender, url=gifts.app_link(g.secret or ""), t=t))
        for g in links
    ]
    if asset is not None and amount is not None:
        human = format_amount(amount, asset.decimals)
        text = t("gifts.inline_create", amount=human, asset=asset.code)
        form = {"gift": human, "asset": asset.code, **({"message": message} if message else {})}
    else:
        text, form = t("gifts.inline_make"), {"gift": "new"}
    button = InlineQueryResultsButton(
        text=text[:64], web_app=WebAppInfo(url=_app_url(webapp_url, **form))
    )
    await inline_query.answer(results, cache_time=CACHE_SECONDS, is_personal=True, button=button)


def build_router() -> Router:
    router = Router(name="gifts")
    router.message.register(claim_link, deep_link(DeepLinkPrefix.GIFT))
    # Every inline query: gifts are the bot's only inline feature.
    router.inline_query.register(share_links)
    return router
