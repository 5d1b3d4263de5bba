"""Gifts from the Mini App: direct gifts, gift links and red packets; claim, cancel, list."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.gifts.errors import (
    GiftAlreadyClaimed,
    GiftNotCancellable,
    GiftNotForYou,
    GiftNotFound,
    GiftUnavailable,
    InvalidGift,
    InvalidShares,
    OwnGift,
    ShareUnavailable,
)
from services.gifts.schemas import MAX_MESSAGE, MAX_SHARES, Gift
from services.gifts.sharing import share_message
from services.ledger.amounts import parse_units
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.errors import AssetNotFound
from services.ledger.service import transfer_id
from services.transfers.errors import SEND_ERRORS
from services.transfers.service import display_name
from services.users.service import effective_language
from services.validation import SafeText
from webapp_api.context import context_of, current_user
from webapp_api.envelope import RESPONSE_DATA, ok
from webapp_api.errors import IdempotencyKeyReused
from webapp_api.idempotency import idempotency_key
from webapp_api.parsing import read_body
from webapp_api.registry import Routes

routes = Routes(tag="gifts")


class GiftIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"kind": "link", "asset": "VIBE", "amount": "1000000", "message": "for you"}
            ]
        }
    )

    kind: Literal["direct", "link", "packet"]
    asset: str = Field(default=DEFAULT_ASSET, pattern=r"^[A-Za-z][A-Za-z0-9]{1,11}$")
    amount: str = Field(pattern=r"^[0-9]{1,39}$", description="The total, smallest units")
    recipient: SafeText | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="direct: who gets it; link: the only user who may claim it",
    )
    shares: int = Field(default=1, ge=1, le=MAX_SHARES, description="packet: how many shares")
    split: Literal["equal", "random"] = Field(
        default="equal", description="packet: random shares are fixed at creation"
    )
    message: SafeText | None = Field(default=None, max_length=MAX_MESSAGE)


class ClaimIn(BaseModel):
    secret: str = Field(min_length=1, max_length=64, description="What follows `gift_`")


class GiftOut(BaseModel):
    id: UUID
    kind: str
    role: Literal["sent", "received"]
    asset: str
    decimals: int
    amount: str
    shares: int
    claimed_shares: int
    claimed_amount: str
    split: str
    message: str | None
    status: Literal["open", "claimed", "cancelled", "expired", "sent"]
    created_at: datetime
    expires_at: datetime | None
    link: str | None = Field(
        default=None,
        description="The t.me claim link, only in the answer that created it (never stored)",
    )
    app_link: str | None = Field(
        default=None,
        description="The same claim in the Mini App (`startapp=gift_<secret>`), beside `link`",
    )


class ClaimOut(BaseModel):
    gift_id: UUID
    asset: str
    decimals: int
    amount: str
    message: str | None


class ShareOut(BaseModel):
    prepared_message_id: str = Field(description="For Telegram.WebApp.shareMessage")


class PreviewOut(BaseModel):
    kind: str
    asset: str
    decimals: int
    amount: str = Field(description="The gift's total (a packet's shares split it)")
    shares: int
    shares_left: int
    message: str | None
    sender: str = Field(description="Who gives it: @username or first name")
    expires_at: datetime | None


def gift_out(
    gift: Gift, user_id: UUID, link: str | None = None, app_link: str | None = None
) -> GiftOut:
    return GiftOut(
        id=gift.id,
        kind=gift.kind,
        role="sent" if gift.creator_id == user_id else "received",
        asset=gift.asset,
        decimals=gift.decimals,
        amount=str(gift.amount),
        shares=gift.shares,
        claimed_shares=gift.claimed_shares,
        claimed_amount=str(gift.claimed_amount),
        split=gift.split,
        message=gift.message,
        status=gift.status,
        created_at=gift.created_at,
        expires_at=gift.expires_at,
        link=link,
        app_link=app_link,
    )


@routes.route(
    "POST",
    "/gifts",
    summary="Give tokens: directly, as a claim link, or as a red packet",
    response=GiftOut,
    body=GiftIn,
    status=201,
    idempotent=True,
    description="No fee. A link or packet holds its total until claimed, cancelled or expired. "
    "`link` is in this answer only: a retry with the same key answers the gift without it.",
    errors=(
        AssetNotFound,
        InvalidGift,
        InvalidShares,
        OwnGift,
        GiftNotFound,
        *SEND_ERRORS,
    ),
)
async def create_gift(request: web.Request) -> web.Response:
    body = await read_body(request, GiftIn)
    user = current_user(request)
    ctx = context_of(request)
    amount = parse_units(body.amount)
    gift = await ctx.gifts.create(
        creator=user,
        gift_id=transfer_id("gift_api", user.id, idempotency_key(request)),
        kind=body.kind,
        asset=body.asset,
        amount=amount,
        recipient=body.recipient,
        shares=body.shares,
        split=body.split,
        message=body.message,
    )
    # The key's stored request hash refuses another body first; this catches one whose first
    # attempt left no record (it failed after the gift was made).
    if (gift.kind, gift.asset, gift.amount) != (body.kind, body.asset.upper(), amount):
        raise IdempotencyKeyReused("this Idempotency-Key was used with another request")
    link = app_link = None
    if gift.secret is not None:
        link, app_link = ctx.gifts.link(gift.secret), ctx.gifts.app_link(gift.secret)
    response = ok(request, gift_out(gift, user.id, link, app_link), status=201)
    if link is not None:
        # Not kept by the idempotency store: the secret is stored nowhere in clear. The key
        # keeps the request's hash all the same, so a retry with another body is a 409, and one
        # with this body runs again and finds this gift by its key-derived id.
        del response[RESPONSE_DATA]
    return response


@routes.route(
    "POST",
    "/gifts/claim",
    summary="Claim a gift link or a share of a red packet",
    response=ClaimOut,
    body=ClaimIn,
    errors=(GiftUnavailable, GiftAlreadyClaimed, GiftNotForYou, OwnGift),
)
async def claim_gift(request: web.Request) -> web.Response:
    body = await read_body(request, ClaimIn)
    claim = await context_of(request).gifts.claim(claimer=current_user(request), secret=body.secret)
    out = ClaimOut(
        gift_id=claim.gift_id,
        asset=claim.asset,
        decimals=claim.decimals,
        amount=str(claim.amount),
        message=claim.message,
    )
    return ok(request, out)


@routes.route(
    "POST",
    "/gifts/preview",
    summary="What a gift link holds, before claiming it (the Mini App's claim view)",
    response=PreviewOut,
    body=ClaimIn,
    description="A POST, so the secret stays out of URLs. Refuses as a claim would now.",
    errors=(GiftUnavailable, GiftAlreadyClaimed, GiftNotForYou, OwnGift),
)
async def preview_gift(request: web.Request) -> web.Response:
    body = await read_body(request, ClaimIn)
    found = await context_of(request).gifts.preview(
        viewer=current_user(request), secret=body.secret
    )
    out = PreviewOut(
        kind=found.kind,
        asset=found.asset,
        decimals=found.decimals,
        amount=str(found.amount),
        shares=found.shares,
        shares_left=found.shares_left,
        message=found.message,
        sender=found.sender,
        expires_at=found.expires_at,
    )
    return ok(request, out)


@routes.route(
    "POST",
    "/gifts/{id}/share",
    summary="A prepared message with the Claim button, for Telegram.WebApp.shareMessage",
    response=ShareOut,
    description="Your open link or packet as the bot's inline results show it "
    "(savePreparedInlineMessage). 503 share_unavailable without a bot: use inline mode "
    "(switchInlineQuery) or copy the link instead.",
    errors=(GiftNotFound, ShareUnavailable),
)
async def share_gift(request: web.Request) -> web.Response:
    user = current_user(request)
    ctx = context_of(request)
    try:
        gift_id = UUID(request.match_info["id"])
    except ValueError:
        raise GiftNotFound("no such gift") from None
    gift = await ctx.gifts.open_link(user, gift_id)
    assert gift.secret is not None  # open_link answers only links it can open
    t = ctx.catalog.translator(effective_language(user))
    message = share_message(
        gift, sender=display_name(user), url=ctx.gifts.app_link(gift.secret), t=t
    )
    prepared = await ctx.gifts.prepare_share(user, message)
    return ok(request, ShareOut(prepared_message_id=prepared))


@routes.route(
    "POST",
    "/gifts/{id}/cancel",
    summary="Cancel an unclaimed gift: what is not claimed returns to you",
    response=GiftOut,
    errors=(GiftNotFound, GiftNotCancellable),
)
async def cancel_gift(request: web.Request) -> web.Response:
    user = current_user(request)
    try:
        gift_id = UUID(request.match_info["id"])
    except ValueError:
        raise GiftNotFound("no such gift") from None
    gift = await context_of(request).gifts.cancel(creator=user, gift_id=gift_id)
    return ok(request, gift_out(gift, user.id))


@routes.route(
    "GET",
    "/gifts",
    summary="Gifts you sent and received, newest first (50)",
    response=GiftOut,
    many=True,
)
async def list_gifts(request: web.Request) -> web.Response:
    user = current_user(request)
    gifts = await context_of(request).gifts.list_for(user)
    return ok(request, list[BaseModel](gift_out(g, user.id) for g in gifts))
