"""`Idempotency-Key` for any POST route that declares `idempotent=...` on its `RouteSpec`.

`idempotent=True`: (user, key) → the request's hash and its first response. The same key with
the same body answers the first response again (an error included); the same key with another
body is a 409 `idempotency_key_reused`; a missing or malformed key is a 422
`idempotency_key_required`.

An HTTP concern, so it lives at the edge: the use case below never sees the key, only what
the route derives from it (a ledger transfer id). That id is what makes concurrent requests
with one key safe: they all run, the ledger applies the first and answers the others `exists`,
and each stores the same response (the first insert wins). So no transaction or connection is
held around the handler: the lookup and the record are one autocommit statement each.

`idempotent="ledger"`: the route's whole effect is ledger transfers whose ids derive from the
key, so the ledger's record of them is the request's record (`ledger_keyed`): no lookup and
no record of our own, two round trips fewer per request. A retry finds the transfers and
answers as the first time (`exists`); a failure the ledger decided (funds, daily limit) is
stored by the ledger under the same ids and answers the same even once its cause is gone;
another body under the key differs in the transfers' fields (409). What the route refuses
before the ledger (an unknown recipient, an amount below the minimum) leaves no trace, so a
retry is checked again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel

from db.database import Database
from services.errors import DomainError
from services.ledger.errors import ExistsWithDifferentFields
from webapp_api.context import context_of, current_user
from webapp_api.envelope import RESPONSE_DATA, ok
from webapp_api.errors import IdempotencyKeyRequired, IdempotencyKeyReused
from webapp_api.parsing import read_body

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HEADER = "Idempotency-Key"
MAX_KEY = 255
# Visible ASCII only: a UUID, a ULID or any token a client makes fits, and the key is the same
# string whatever the client's or proxy's header encoding.
KEY_PATTERN = rf"^[\x21-\x7e]{{1,{MAX_KEY}}}$"
_KEY = re.compile(KEY_PATTERN)
DESCRIPTION = (
    "Required; 1-255 visible ASCII characters, unique per intended operation. A retry with the "
    "same key and body answers the first response again (an error included) and does nothing "
    "twice; the same key with another body is 409 `idempotency_key_reused`; a missing or "
    "malformed key is 422 `idempotency_key_required`."
)
LEDGER_DESCRIPTION = (
    "Required; 1-255 visible ASCII characters, unique per intended operation; the ledger "
    "transfer ids derive from it. A retry with the same key and body answers as the first "
    "time and moves nothing twice, a refusal by the ledger (funds, daily limit) included; a "
    "refusal before the ledger (unknown recipient, invalid amount) is checked again. The same "
    "key with another body is 409 `idempotency_key_reused`; a missing or malformed key is "
    "422 `idempotency_key_required`."
)
SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": KEY_PATTERN,
    "minLength": 1,
    "maxLength": MAX_KEY,
}

_KEY_OF_REQUEST = web.RequestKey("idempotency_key", str)
# What jsonb refuses in a string: NUL, and an unpaired surrogate (JSON's "\ud800" decodes to
# one). An error's details may echo the client's own input; stored, these become U+FFFD.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")

_LOOKUP = (
    "SELECT request_hash, status, response::text FROM tokens.idempotency_keys"
    " WHERE user_id = $1 AND key = $2"
)
_REMEMBER = (
    "INSERT INTO tokens.idempotency_keys (user_id, key, request_hash, status, response)"
    " VALUES ($1, $2, $3, $4, $5::text::jsonb) ON CONFLICT (user_id, key) DO NOTHING"
)


class ReplayedError(DomainError):
    """A stored error response, raised again with its original status and code."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message, **details)
        # The first attempt's class is gone; its code and status are what the client saw.
        self.code = code  # type: ignore[misc]
        self.status = status  # type: ignore[misc]


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def check_key(key: str | None) -> str:
    """Raises IdempotencyKeyRequired."""
    if key is None or _KEY.fullmatch(key) is None:
        raise IdempotencyKeyRequired(
            "an Idempotency-Key header (1-255 visible ASCII characters) is required"
        )
    return key


def idempotency_key(request: web.Request) -> str:
    """The checked key of a request to an idempotent route, for ids derived from it."""
    return request[_KEY_OF_REQUEST]


def idempotent(handler: Handler, body: type[BaseModel] | None) -> Handler:
    """`handler` run once per (user, key): what `create_api_app` mounts for `idempotent=True`.

    Raises IdempotencyKeyRequired, IdempotencyKeyReused, a ReplayedError repeating the first
    attempt's error, and what the handler raises. A 5xx is not stored: it is our fault, and a
    retry may succeed.
    """

    async def once(request: web.Request) -> web.StreamResponse:
        key = check_key(request.headers.get(HEADER))
        # Parsed here (and kept for the handler), so a body the route refuses is refused
        # before the key is looked at, and is never stored.
        parsed = await read_body(request, body) if body is not None else None
        digest = request_hash(parsed.model_dump() if parsed is not None else {})
        db, user_id = context_of(request).db, current_user(request).id
        stored = await _lookup(db, user_id, key)
        if stored is not None:
            return _replay(request, digest, *stored)
        request[_KEY_OF_REQUEST] = key
        try:
            response = await handler(request)
        except ExistsWithDifferentFields:
            # An id derived from the key exists with other fields: another body got there first.
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another request"
            ) from None
        except DomainError as error:
            if not isinstance(error, ReplayedError) and error.status < 500:
                failure = {"code": error.code, "message": error.message, "details": error.details}
                await _remember(db, user_id, key, digest, error.status, failure)
            raise
        if response.status < 300 and RESPONSE_DATA in response:
            await _remember(db, user_id, key, digest, response.status, response[RESPONSE_DATA])
        return response

    return once


def ledger_keyed(handler: Handler, body: type[BaseModel] | None) -> Handler:
    """`handler` behind a checked key whose ledger ids are the record: what `create_api_app`
    mounts for `idempotent="ledger"`. Raises IdempotencyKeyRequired, IdempotencyKeyReused and
    what the handler raises."""

    async def keyed(request: web.Request) -> web.StreamResponse:
        key = check_key(request.headers.get(HEADER))
        if body is not None:
            # A body the route refuses is refused before a missing key would be (as above).
            await read_body(request, body)
        request[_KEY_OF_REQUEST] = key
        try:
            return await handler(request)
        except ExistsWithDifferentFields:
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another request"
            ) from None

    return keyed


def _replay(
    request: web.Request, digest: str, stored_hash: str, status: int, raw: str
) -> web.Response:
    if stored_hash != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was used with another request")
    response = json.loads(raw)
    if status >= 400:
        raise ReplayedError(
            status, response["code"], response["message"], response.get("details", {})
        )
    return ok(request, response, status=status)


async def _driver(conn: Any) -> Any:
    return (await conn.get_raw_connection()).driver_connection


async def _lookup(db: Database, user_id: UUID, key: str) -> tuple[str, int, str] | None:
    async with db.statement() as conn:
        row = await (await _driver(conn)).fetchrow(_LOOKUP, user_id, key)
    return None if row is None else (row[0], row[1], row[2])


async def _remember(
    db: Database, user_id: UUID, key: str, digest: str, status: int, response: Any
) -> None:
    stored = json.dumps(_storable(response), default=str)
    async with db.statement() as conn:
        await (await _driver(conn)).fetchval(_REMEMBER, user_id, key, digest, status, stored)


def _storable(value: Any) -> Any:
    """`value` with every string (and key) one jsonb can hold: whatever a refusal echoes of
    the client's input, storing it cannot turn that 4xx into a 500."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value
