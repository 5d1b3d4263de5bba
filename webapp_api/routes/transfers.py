"""User-to-user transfers from the Mini App, idempotent by the Idempotency-Key header."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from services.ledger.amounts import parse_units
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.errors import AssetNotFound
from services.ledger.schemas import Counterparty
from services.ledger.service import transfer_id
from services.transfers.errors import SEND_ERRORS
from services.transfers.service import MAX_MEMO
from services.validation import SafeText
from webapp_api.context import context_of, current_user
from webapp_api.envelope import ok
from webapp_api.idempotency import idempotency_key
from webapp_api.parsing import read_body
from webapp_api.registry import Routes

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
    idempotent="ledger",
    errors=(AssetNotFound, *SEND_ERRORS),
)
async def create_transfer(request: web.Request) -> web.Response:
    body = await read_body(request, TransferIn)
    sender = current_user(request)
    receipt = await context_of(request).transfers.send(
        sender=sender,
        recipient=body.recipient,
        asset=body.asset,
        amount=parse_units(body.amount),
        # A retry with the key is a replay in the ledger too, whatever the key's record says.
        transfer_id=transfer_id("api", sender.id, idempotency_key(request)),
        memo=body.memo,
    )
    recipient = receipt.recipient
    out = TransferOut(
        transfer_id=receipt.transfer_id,
        asset=receipt.asset.code,
        decimals=receipt.asset.decimals,
        amount=str(receipt.amount),
        fee=str(receipt.fee),
        recipient=Counterparty(
            id=recipient.id, username=recipient.username, first_name=recipient.first_name
        ),
        status="posted",
    )
    return ok(request, out, status=201)
