"""Promo codes: users redeem them; admins create them and read who redeemed what (CSV)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from uuid import UUID

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.ledger.amounts import parse_units
from services.ledger.errors import (
    AdminOnly,
    AmountTooLarge,
    AssetNotFound,
    InvalidAmount,
    SupplyExceeded,
)
from services.promo.errors import (
    InvalidPromoCode,
    InvalidPromoTerms,
    PromoCodeTaken,
    PromoNotFound,
    PromoUnavailable,
)
from services.promo.schemas import Promo
from services.promo.service import MAX_PER_USER, MAX_USES
from services.validation import SafeText
from webapp_api.context import context_of, current_user
from webapp_api.envelope import ok
from webapp_api.parsing import read_body
from webapp_api.registry import Routes

routes = Routes(tag="promo")

_UNITS = r"^[0-9]{1,39}$"


class RedeemIn(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"code": "SPRING50"}]})

    code: SafeText = Field(min_length=1, max_length=64, description="Case-insensitive")


class RedemptionOut(BaseModel):
    code: str
    asset: str
    decimals: int
    amount: str = Field(description="Credited, in the asset's smallest unit")
    transfer_id: UUID


class PromoIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "SPRING50", "asset": "VIBE", "amount": "5000000", "max_uses": 50}]
        }
    )

    code: str = Field(pattern=r"^[A-Za-z0-9_-]{3,32}$", description="Stored upper-cased")
    asset: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]{1,11}$")
    amount: str = Field(pattern=_UNITS, description="Credited per redemption, smallest units")
    max_uses: int = Field(ge=1, le=MAX_USES)
    per_user: int = Field(default=1, ge=1, le=MAX_PER_USER)
    expires_at: AwareDatetime | None = None
    budget: str | None = Field(
        default=None,
        pattern=_UNITS,
        description="Held in the ledger at creation; default amount × max_uses",
    )
    new_users_only: bool = Field(default=False, description="Only users registered after it")
    min_account_age: int = Field(
        default=0, ge=0, le=10 * 365 * 86400, description="Seconds since the user registered"
    )


class PromoOut(BaseModel):
    code: str
    asset: str
    decimals: int
    amount: str
    max_uses: int
    per_user: int
    budget: str
    used: int
    paid: str
    left: str = Field(description="Budget still held: budget - paid")
    new_users_only: bool
    min_account_age: int
    active: bool
    expires_at: datetime | None
    created_at: datetime


def promo_out(promo: Promo) -> PromoOut:
    return PromoOut(
        code=promo.code,
        asset=promo.asset,
        decimals=promo.decimals,
        amount=str(promo.amount),
        max_uses=promo.max_uses,
        per_user=promo.per_user,
        budget=str(promo.budget),
        used=promo.used,
        paid=str(promo.paid),
        left=str(promo.budget - promo.paid),
        new_users_only=promo.new_users_only,
        min_account_age=promo.min_account_age,
        active=promo.active,
        expires_at=promo.expires_at,
        created_at=promo.created_at,
    )


@routes.route(
    "POST",
    "/promo/redeem",
    summary="Redeem a promo code",
    response=RedemptionOut,
    body=RedeemIn,
    idempotent=True,
    description="Unknown, used-up, expired and not-for-you codes all answer 409 "
    "`promo_unavailable`. Attempts are rate limited per user and per address.",
    errors=(PromoUnavailable, AmountTooLarge),
)
async def redeem(request: web.Request) -> web.Response:
    body = await read_body(request, RedeemIn)
    done = await context_of(request).promos.redeem(
        user=current_user(request), code=body.code, ip=request.remote or "unknown"
    )
    out = RedemptionOut(
        code=done.code,
        asset=done.asset,
        decimals=done.decimals,
        amount=str(done.amount),
        transfer_id=done.transfer_id,
    )
    return ok(request, out)


@routes.route(
    "POST",
    "/admin/promo",
    summary="Create a promo code (admins)",
    response=PromoOut,
    body=PromoIn,
    status=201,
    errors=(
        AdminOnly,
        AssetNotFound,
        InvalidAmount,
        AmountTooLarge,
        InvalidPromoCode,
        InvalidPromoTerms,
        PromoCodeTaken,
        SupplyExceeded,
    ),
)
async def create_promo(request: web.Request) -> web.Response:
    body = await read_body(request, PromoIn)
    promo = await context_of(request).promos.create(
        admin=current_user(request),
        code=body.code,
        asset=body.asset,
        amount=parse_units(body.amount),
        max_uses=body.max_uses,
        per_user=body.per_user,
        budget=parse_units(body.budget) if body.budget is not None else None,
        expires_at=body.expires_at,
        new_users_only=body.new_users_only,
        min_account_age=body.min_account_age,
    )
    return ok(request, promo_out(promo), status=201)


@routes.route(
    "GET",
    "/admin/promo/{code}",
    summary="A promo code and its counters (admins)",
    response=PromoOut,
    errors=(AdminOnly, PromoNotFound),
)
async def promo_stats(request: web.Request) -> web.Response:
    promo, _ = await context_of(request).promos.stats(
        admin=current_user(request), code=request.match_info["code"]
    )
    return ok(request, promo_out(promo))


@routes.route(
    "GET",
    "/admin/promo/{code}/redemptions",
    summary="Who redeemed a promo code and when, as CSV (admins)",
    response=None,
    description="200 is `text/csv`: use_number, user_id, telegram_id, username, amount "
    "(smallest units), transfer_id, redeemed_at (ISO 8601, UTC).",
    errors=(AdminOnly, PromoNotFound),
)
async def redemptions_csv(request: web.Request) -> web.Response:
    promo, rows = await context_of(request).promos.stats(
        admin=current_user(request), code=request.match_info["code"]
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["use_number", "user_id", "telegram_id", "username", "amount", "transfer_id", "redeemed_at"]
    )
    for r in rows:
        writer.writerow(
            [
                r.use_number,
                r.user_id,
                r.telegram_id,
                # A username starting with = or + is a formula to a spreadsheet: quote it out.
                _cell(r.username or ""),
                r.amount,
                r.transfer_id,
                r.redeemed_at.isoformat(),
            ]
        )
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="promo-{promo.code}.csv"'},
    )


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
