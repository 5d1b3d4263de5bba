"""User-to-user transfers from the Mini App, idempotent by the Idempotency-Key header."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from db.database import ServiceTx
from services.ledger.amounts import parse_units
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.errors import AssetNotFound
from services.ledger.schemas import Counterparty
from services.ledger.service import transfer_id
from services.transfers.errors import SEND_ERRORS, IdempotencyKeyRequired, IdempotencyKeyReused
from services.transfers.idempotency import KEY_PATTERN, MAX_KEY, check_key, run_once
from services.transfers.service import MAX_MEMO, resolve_recipient, send
from services.validation import SafeText
from webapp_api.context import context_of, current_user
from webapp_api.envelope import ok
from webapp_api.parsing import read_body
from webapp_api.registry import HeaderParam, Routes

routes = Routes(tag="ledger")


class TransferIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"recipient": "@alice", "asset": "VIBE", "amount": "1500000", "memo": "lunch"}
            ]
        }
    )

    recipient: SafeText = Field(
        min_length=1, max_length=64, description="`@username`, Telegram id or user id"
    )
    asset: str = Field(default=DEFAULT_ASSET, pattern=r"^[A-Za-z][A-Za-z0-9]{1,11}$")
    amount: str = Field(
        pattern=r"^[0-9]{1,39}$",
        description="Integer count of the asset's smallest unit, positive (0 is `invalid_amount`)",
    )
    memo: SafeText | None = Field(default=None, max_length=MAX_MEMO)


class TransferOut(BaseModel):
    transfer_id: UUID
    asset: str
    decimals: int
    amount: str
    fee: str = Field(description="Paid by the sender on top of `amount`, in the same unit")
    recipient: Counterparty
    status: Literal["posted"]


@routes.route(
    "POST",
    "/transfers",
    summary="Send tokens to another user",
    response=TransferOut,
    body=TransferIn,
    status=201,
    headers=(
        HeaderParam(
            "Idempotency-Key",
            "Required; 1-255 visible ASCII characters, unique per intended transfer. A retry "
            "with the same key and body answers the first response again (an error included) "
            "and moves nothing twice; the same key with another body is 409 "
            "`idempotency_key_reused`; a missing or malformed key is 422 "
            "`idempotency_key_required`.",
            schema={"type": "string", "pattern": KEY_PATTERN, "minLength": 1, "maxLength": MAX_KEY},
        ),
    ),
    errors=(IdempotencyKeyRequired, IdempotencyKeyReused, AssetNotFound, *SEND_ERRORS),
)
async def create_transfer(request: web.Request) -> web.Response:
    key = check_key(request.headers.get("Idempotency-Key"))
    body = await read_body(request, TransferIn)
    ctx = context_of(request)
    sender = current_user(request)

    async def action(session: ServiceTx) -> dict[str, Any]:
        asset = await ctx.ledger.assets.get(session, body.asset)
        recipient = await resolve_recipient(session, body.recipient)
        amount, tid = parse_units(body.amount), transfer_id("api", sender.id, key)
        if ctx.sender is not None:
            # Commits on its own: a crash before the key is stored is safe, because the
            # transfer id derives from the key and the retry replays it.
            receipt = await ctx.sender.send(
                sender=sender,
                recipient=recipient,
                asset=asset,
                amount=amount,
                transfer_id=tid,
                memo=body.memo,
            )
        else:
            receipt = await send(
                session,
                ctx.ledger.p2p,
                sender=sender,
                recipient=recipient,
                asset=asset,
                amount=amount,
                transfer_id=tid,
                memo=body.memo,
            )
        out = TransferOut(
            transfer_id=receipt.transfer_id,
            asset=asset.code,
            decimals=asset.decimals,
            amount=str(receipt.amount),
            fee=str(receipt.fee),
            recipient=Counterparty(
                id=recipient.id, username=recipient.username, first_name=recipient.first_name
            ),
            status="posted",
        )
        return out.model_dump(mode="json")

    data = await run_once(ctx.db, user_id=sender.id, key=key, body=body.model_dump(), action=action)
    return ok(request, data, status=201)
