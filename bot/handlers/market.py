"""/market (the books, with a Take button per offer), /offer (make an offer, human amounts),
/offers (yours, with Cancel), /fill (take an offer, confirmed with a button)."""

from __future__ import annotations

from uuid import UUID

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from db.models import User
from services.i18n import Translator
from services.ledger.amounts import format_amount
from services.ledger.service import transfer_id
from services.market.errors import OfferNotFound
from services.market.pricing import PRICE_DIGITS, display_price
from services.market.schemas import OfferOut
from services.market.usecase import Market, Quote

BOOK_DEPTH = 5
MY_OFFERS = 10


class OfferAction(CallbackData, prefix="mkt"):
    """`mkt:cancel:<offer hex>`, `mkt:take:<offer hex>`; forged data does not unpack and falls
    to the fallback router."""

    action: str
    offer: UUID


class FillAction(CallbackData, prefix="mf"):
    """`mf:ok|no:<offer hex>:<sell units>` on a fill's confirmation. Only what to take travels
    in the button: the price is the offer's own, read again by the fill."""

    action: str
    offer: UUID
    amount: int


# Telegram's limit on callback data: a fill of more sell units than this fits must use the app.
CALLBACK_BYTES = 64


def book_line(t: Translator, offer: OfferOut, *, ask: bool) -> str:
    """An ask sells the base for the quote, a bid the quote for the base: both priced in
    quote per base."""
    if ask:
        quote, base = int(offer.buy_amount), int(offer.sell_amount)
        qd, bd = offer.buy_decimals, offer.sell_decimals
    else:
        quote, base = int(offer.sell_amount), int(offer.buy_amount)
        qd, bd = offer.sell_decimals, offer.buy_decimals
    price = display_price(quote, base, quote_decimals=qd, base_decimals=bd)
    return t(
        "market.book_line",
        price=format_amount(price, PRICE_DIGITS),
        amount=format_amount(int(offer.remaining), offer.sell_decimals),
        asset=offer.sell_asset,
    )


async def show_market(
    message: Message, command: CommandObject, user: User, t: Translator, market: Market
) -> None:
    words = (command.args or "").upper().split()
    if len(words) != 2:
        pairs = await market.pairs()
        lines = [t("market.usage"), "", t("market.pairs_title")]
        lines += [t("market.pair_line", sell=s, buy=b, count=n) for s, b, n in pairs] or [
            t("market.no_offers")
        ]
        await message.answer("\n".join(lines))
        return
    base, quote = words
    asks = await market.book(viewer=user, sell_asset=base, buy_asset=quote, limit=BOOK_DEPTH)
    bids = await market.book(viewer=user, sell_asset=quote, buy_asset=base, limit=BOOK_DEPTH)
    empty = [t("market.side_empty")]
    lines = [
        t("market.book_title", base=base, quote=quote),
        "",
        t("market.asks_title", base=base),
        *([book_line(t, o, ask=True) for o in asks.items] or empty),
        "",
        t("market.bids_title", base=base),
        *([book_line(t, o, ask=False) for o in bids.items] or empty),
    ]
    buttons = [
        [
            InlineKeyboardButton(
                text=t(
                    "market.take_button",
                    amount=format_amount(int(o.remaining), o.sell_decimals),
                    asset=o.sell_asset,
                    pay_asset=o.buy_asset,
                ),
                callback_data=OfferAction(action="take", offer=o.id).pack(),
            )
        ]
        for o in (*asks.items, *bids.items)
        if not o.mine
    ]
    markup = InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
    await message.answer("\n".join(lines), reply_markup=markup)


async def make_offer(
    message: Message, command: CommandObject, user: User, t: Translator, market: Market
) -> None:
    words = (command.args or "").split()
    if len(words) not in (4, 5):
        await message.answer(t("market.offer_usage"))
        return
    sell_amount, sell_asset, buy_amount, buy_asset = words[:4]
    created = await market.create_human(
        maker=user,
        # A re-delivered update is the same message: a replay, not a second offer.
        offer_id=transfer_id("bot_offer", message.chat.id, message.message_id),
        sell_asset=sell_asset,
        sell_amount=sell_amount,
        buy_asset=buy_asset,
        buy_amount=buy_amount,
        min_fill=words[4] if len(words) == 5 else None,
    )
    await message.answer(
        t(
            "market.offer_created",
            sell_amount=format_amount(int(created.sell_amount), created.sell_decimals),
            sell_asset=created.sell_asset,
            buy_amount=format_amount(int(created.buy_amount), created.buy_decimals),
            buy_asset=created.buy_asset,
        )
    )


async def show_offers(message: Message, user: User, t: Translator, market: Market) -> None:
    page = await market.mine(maker=user, status="open", limit=MY_OFFERS)
    if not page.items:
        await message.answer(t("market.offers_none"))
        return
    lines, buttons = [t("market.offers_title")], []
    for index, offer in enumerate(page.items, start=1):
        lines.append(
            t(
                "market.offers_line",
                index=index,
                remaining=format_amount(int(offer.remaining), offer.sell_decimals),
                sell_amount=format_amount(int(offer.sell_amount), offer.sell_decimals),
                sell_asset=offer.sell_asset,
                buy_amount=format_amount(int(offer.buy_amount), offer.buy_decimals),
                buy_asset=offer.buy_asset,
            )
        )
        data = OfferAction(action="cancel", offer=offer.id).pack()
        buttons.append(
            [InlineKeyboardButton(text=t("market.cancel_button", index=index), callback_data=data)]
        )
    await message.answer(
        "\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
    )


async def cancel_offer(
    query: CallbackQuery, callback_data: OfferAction, user: User, t: Translator, market: Market
) -> None:
    cancelled = await market.cancel(maker=user, offer_id=callback_data.offer)
    text = t(
        "market.cancelled",
        amount=format_amount(int(cancelled.remaining), cancelled.sell_decimals),
        asset=cancelled.sell_asset,
    )
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(text)


async def fill_command(
    message: Message, command: CommandObject, user: User, t: Translator, market: Market
) -> None:
    """`/fill <offer id> [amount]`: the terms, to confirm; no amount takes all that is left."""
    words = (command.args or "").split()
    if len(words) not in (1, 2):
        await message.answer(t("market.fill_usage"))
        return
    try:
        offer_id = UUID(words[0])
    except ValueError:
        raise OfferNotFound("no such offer") from None
    quote = await market.quote(
        taker=user, offer_id=offer_id, amount=words[1] if len(words) == 2 else None
    )
    await _confirm(message, t, quote)


async def take_offer(
    query: CallbackQuery, callback_data: OfferAction, user: User, t: Translator, market: Market
) -> None:
    """A Take button of the book: the terms of taking all that is left, to confirm."""
    quote = await market.quote(taker=user, offer_id=callback_data.offer, amount=None)
    await query.answer()
    if isinstance(query.message, Message):
        await _confirm(query.message, t, quote)


async def _confirm(message: Message, t: Translator, quote: Quote) -> None:
    offer, terms = quote.offer, quote.terms
    data = [
        FillAction(action=action, offer=offer.id, amount=terms.amount).pack()
        for action in ("ok", "no")
    ]
    if any(len(d.encode()) > CALLBACK_BYTES for d in data):
        await message.answer(t("market.fill_too_large"))
        return
    sell = offer.sell_decimals
    text = t(
        "market.fill_confirm",
        amount=format_amount(terms.amount, sell),
        sell_asset=offer.sell_asset,
        paid=format_amount(terms.paid, offer.buy_decimals),
        buy_asset=offer.buy_asset,
        received=format_amount(terms.received, sell),
        fee=format_amount(terms.fee, sell),
        offer_id=str(offer.id),
    )
    keyboard = [
        [
            InlineKeyboardButton(text=t("market.fill_confirm_button"), callback_data=data[0]),
            InlineKeyboardButton(text=t("market.fill_cancel_button"), callback_data=data[1]),
        ]
    ]
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=keyboard))


async def confirm_fill(
    query: CallbackQuery, callback_data: FillAction, user: User, t: Translator, market: Market
) -> None:
    """The fill, through the same call as the API's. Its id is the confirmation message's: a
    second press (or a re-delivered update) answers the same fill, never a second one."""
    if not isinstance(query.message, Message):
        await query.answer()
        return
    confirmation = query.message
    filled = await market.fill(
        taker=user,
        fill_id=transfer_id("bot_fill", confirmation.chat.id, confirmation.message_id),
        offer_id=callback_data.offer,
        amount=callback_data.amount,
    )
    await query.answer()
    await confirmation.edit_reply_markup(reply_markup=None)
    await confirmation.answer(
        t(
            "market.filled",
            received=format_amount(int(filled.received), filled.sell_decimals),
            sell_asset=filled.sell_asset,
            paid=format_amount(int(filled.paid), filled.buy_decimals),
            buy_asset=filled.buy_asset,
            fee=format_amount(int(filled.fee), filled.sell_decimals),
            remaining=format_amount(int(filled.offer_remaining), filled.sell_decimals),
        )
    )


async def drop_fill(query: CallbackQuery, t: Translator) -> None:
    await query.answer(t("market.fill_dropped"))
    if isinstance(query.message, Message):
        await query.message.edit_reply_markup(reply_markup=None)


def build_router() -> Router:
    router = Router(name="market")
    router.message.register(show_market, Command("market"))
    router.message.register(make_offer, Command("offer"))
    router.message.register(show_offers, Command("offers"))
    router.message.register(fill_command, Command("fill"))
    router.callback_query.register(cancel_offer, OfferAction.filter(F.action == "cancel"))
    router.callback_query.register(take_offer, OfferAction.filter(F.action == "take"))
    router.callback_query.register(confirm_fill, FillAction.filter(F.action == "ok"))
    router.callback_query.register(drop_fill, FillAction.filter(F.action == "no"))
    return router
