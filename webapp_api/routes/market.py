"""The P2P market: make, fill and cancel offers; the order book; the user's own offers."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.ledger.amounts import parse_units
from services.ledger.errors import AssetNotFound
from services.ledger.service import transfer_id
from services.market.errors import CANCEL_ERRORS, CREATE_ERRORS, FILL_ERRORS, OfferNotFound
from services.market.schemas import FillOut, OfferOut
from services.market.service import OfferPage
from services.validation import InvalidCursor
from webapp_api.context import context_of, current_user
from webapp_api.envelope import Pagination, ok
from webapp_api.idempotency import idempotency_key
from webapp_api.parsing import read_body, read_query
from webapp_api.registry import Routes

routes = Routes(tag="market")

_ASSET = r"^[A-Za-z][A-Za-z0-9]{1,11}$"
_UNITS = r"^[0-9]{1,39}$"


class OfferIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sell_asset": "VIBE",
                    "sell_amount": "100000000",
                    "buy_asset": "USDT",
                    "buy_amount": "25000000",
                }
            ]
        }
    )

    sell_asset: str = Field(pattern=_ASSET)
    sell_amount: str = Field(pattern=_UNITS, description="Smallest units of `sell_asset`")
    buy_asset: str = Field(pattern=_ASSET)
    buy_amount: str = Field(
        pattern=_UNITS, description="Smallest units of `buy_asset` asked for all of `sell_amount`"
    )
    min_fill: str | None = Field(
        default=None, pattern=_UNITS, description="Smallest fill in sell units (default 1)"
    )


class FillIn(BaseModel):
    amount: str = Field(
        pattern=_UNITS,
        description="Sell units to take; the taker pays ceil(amount × buy_amount / sell_amount)",
    )


class BookQuery(BaseModel):
    cursor: str | None = Field(default=None, max_length=300)
    limit: int = Field(default=20, ge=1, le=100)


class MyQuery(BaseModel):
    status: Literal["open", "filled", "cancelled", "expired"] | None = None
    cursor: str | None = Field(default=None, max_length=300)
    limit: int = Field(default=20, ge=1, le=100)


def _offer_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["id"])
    except ValueError:
        raise OfferNotFound("no such offer") from None


def _page(request: web.Request, page: OfferPage, limit: int) -> web.Response:
    pagination = Pagination(
        next_cursor=page.next_cursor, has_more=page.next_cursor is not None, limit=limit
    )
    return ok(request, list[BaseModel](page.items), pagination=pagination)


@routes.route(
    "POST",
    "/market/offers",
    summary="Offer tokens for other tokens; the offered amount is held until filled, "
    "cancelled or expired",
    response=OfferOut,
    body=OfferIn,
    status=201,
    idempotent=True,
    errors=CREATE_ERRORS,
)
async def create_offer(request: web.Request) -> web.Response:
    body = await read_body(request, OfferIn)
    maker = current_user(request)
    created = await context_of(request).market.create(
        maker=maker,
        offer_id=transfer_id("api_offer", maker.id, idempotency_key(request)),
        sell_asset=body.sell_asset,
        sell_amount=parse_units(body.sell_amount),
        buy_asset=body.buy_asset,
        buy_amount=parse_units(body.buy_amount),
        min_fill=None if body.min_fill is None else parse_units(body.min_fill),
    )
    return ok(request, created, status=201)


@routes.route(
    "POST",
    "/market/offers/{id}/fill",
    summary="Take all or part of an offer",
    response=FillOut,
    body=FillIn,
    status=201,
    idempotent=True,
    errors=FILL_ERRORS,
)
async def fill_offer(request: web.Request) -> web.Response:
    body = await read_body(request, FillIn)
    taker = current_user(request)
    filled = await context_of(request).market.fill(
        taker=taker,
        fill_id=transfer_id("api_fill", taker.id, idempotency_key(request)),
        offer_id=_offer_id(request),
        amount=parse_units(body.amount),
    )
    return ok(request, filled, status=201)


@routes.route(
    "GET",
    "/market/offers/{id}",
    summary="One offer, open or closed",
    response=OfferOut,
    errors=(OfferNotFound,),
)
async def get_offer(request: web.Request) -> web.Response:
    found = await context_of(request).market.get(
        viewer=current_user(request), offer_id=_offer_id(request)
    )
    return ok(request, found)


@routes.route(
    "DELETE",
    "/market/offers/{id}",
    summary="Cancel your open offer; what is left of it returns to your balance",
    response=OfferOut,
    errors=CANCEL_ERRORS,
)
async def cancel_offer(request: web.Request) -> web.Response:
    cancelled = await context_of(request).market.cancel(
        maker=current_user(request), offer_id=_offer_id(request)
    )
    return ok(request, cancelled)


@routes.route(
    "GET",
    "/market/my",
    summary="Your offers, newest first",
    response=OfferOut,
    query=MyQuery,
    paginated=True,
    errors=(InvalidCursor,),
)
async def my_offers(request: web.Request) -> web.Response:
    query = read_query(request, MyQuery)
    page = await context_of(request).market.mine(
        maker=current_user(request), status=query.status, cursor=query.cursor, limit=query.limit
    )
    return _page(request, page, query.limit)


@routes.route(
    "GET",
    "/market/{base}/{quote}",
    summary="The order book: open offers selling `base` for `quote`, best price first",
    description="Best first: the least `quote` asked per `base` (buy_amount / sell_amount, "
    "compared exactly), then the oldest. The other side of the book is "
    "`/market/{quote}/{base}`.",
    response=OfferOut,
    query=BookQuery,
    paginated=True,
    errors=(AssetNotFound, InvalidCursor),
)
async def order_book(request: web.Request) -> web.Response:
    query = read_query(request, BookQuery)
    page = await context_of(request).market.book(
        viewer=current_user(request),
        sell_asset=request.match_info["base"],
        buy_asset=request.match_info["quote"],
        cursor=query.cursor,
        limit=query.limit,
    )
    return _page(request, page, query.limit)
