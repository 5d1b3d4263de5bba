"""Token packs, Stars invoice links for the Mini App, and the user's purchases."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from services.ledger.amounts import format_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS
from services.purchases.errors import INVOICE_ERRORS
from services.purchases.schemas import InvoiceIn, InvoiceOut, PackOut, PurchaseOut
from services.purchases.service import list_purchases, pack_of
from services.users.service import effective_language
from services.validation import InvalidCursor
from webapp_api.context import context_of, current_user
from webapp_api.envelope import Pagination, ok
from webapp_api.parsing import read_body, read_query
from webapp_api.registry import Routes

routes = Routes(tag="purchases")


class PurchasesQuery(BaseModel):
    cursor: str | None = Field(
        default=None, max_length=200, description="`next_cursor` of the previous page"
    )
    limit: int = Field(default=20, ge=1, le=100)


@routes.route(
    "GET",
    "/purchases/packs",
    summary="Token packs sold for Telegram Stars",
    response=PackOut,
    many=True,
)
async def packs(request: web.Request) -> web.Response:
    sold = context_of(request).purchases.packs
    return ok(request, [PackOut(id=p.id, stars=p.stars, vibe=str(p.vibe)) for p in sold])


@routes.route(
    "POST",
    "/purchases/stars",
    summary="An invoice link for a pack, to open with Telegram.WebApp.openInvoice",
    response=InvoiceOut,
    body=InvoiceIn,
    idempotent=True,
    errors=INVOICE_ERRORS,
)
async def stars_invoice(request: web.Request) -> web.Response:
    body = await read_body(request, InvoiceIn)
    ctx = context_of(request)
    user = current_user(request)
    pack = pack_of(ctx.purchases.config, body.pack_id)
    t = ctx.catalog.translator(effective_language(user))
    amount = format_amount(pack.vibe, DEFAULT_ASSET_DECIMALS)
    link = await ctx.purchases.invoice_link(
        user,
        pack.id,
        title=t("purchases.invoice_title", vibe=amount),
        description=t("purchases.invoice_description", vibe=amount, stars=pack.stars),
    )
    return ok(request, InvoiceOut(invoice_link=link))


@routes.route(
    "GET",
    "/purchases",
    summary="The user's Stars purchases, newest first",
    response=PurchaseOut,
    query=PurchasesQuery,
    paginated=True,
    errors=(InvalidCursor,),
)
async def purchases(request: web.Request) -> web.Response:
    query = read_query(request, PurchasesQuery)
    user = current_user(request)
    async with context_of(request).db.user(user.id) as session:
        page = await list_purchases(session, cursor=query.cursor, limit=query.limit)
    pagination = Pagination(
        next_cursor=page.next_cursor, has_more=page.next_cursor is not None, limit=query.limit
    )
    return ok(request, list[BaseModel](page.items), pagination=pagination)
