"""`Idempotency-Key` for any POST route that declares `idempotent=...` on its `RouteSpec`.

`idempotent=True`: (user, key) → the request's hash and its first response. The same key with
the same body answers the first response again (an error included); the same key with another
body is a 409 `idempotency_key_reused`; a missing or malformed key is a 422
`idempotency_key_required`.

An HTTP concern, so it lives at the edge: the use case below never sees the key, only what
the route derives from it (a ledger transfer id). Not every use case has such an id (a promo
redemption does not), so the key is claimed before the handler runs: one `INSERT ... ON
CONFLICT` of an in-progress row (status 0), which takes over only an abandoned claim, decides
which request runs it, and the others wait for its answer and replay it, as a retry after it
would. The answer is stored
over the claim when the handler returns; a claim whose handler failed is released at once,
and one left by a process that died counts as abandoned after `ABANDONED_AFTER`, so no key
is blocked for good; a live claim is renewed while its handler runs, so however long that
takes it is never taken for abandoned. No transaction or connection is held around the
handler: the claim, each renewal, the record and each look while waiting are one autocommit
statement each.

A key is kept for `KEY_RETENTION` (24 hours, as Stripe keeps them), then purged by every
instance's scheduler (`purge_keys`): a retry a day later is a new request.

A route may keep its answer out of the store (a gift link's secret is stored nowhere in
clear): the key then keeps only the request's hash (status 1), so another body is still a
409, and the same body runs the handler again, which answers from its key-derived ids.

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

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text

from db import locks
from db.database import Database
from db.purge import purge_in_batches
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
    "same key and body within 24 hours answers the first response again (an error included) "
    "and does nothing twice; the same key with another body is 409 `idempotency_key_reused`; "
    "a missing or malformed key is 422 `idempotency_key_required`. After 24 hours the key is "
    "forgotten and a request with it is a new one."
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

# Far above any client's retry window, and above ABANDONED_AFTER: only answered keys and
# abandoned claims are old enough to go.
KEY_RETENTION = timedelta(hours=24)
# The age is tested again outside the subquery: a row a retry re-claimed (created_at = now())
# while the DELETE waited for it is re-checked there, and kept; the subquery's answer would not be.
_PURGE = text(
    "DELETE FROM tokens.idempotency_keys WHERE (user_id, key) IN"
    " (SELECT user_id, key FROM tokens.idempotency_keys"
    "   WHERE created_at < now() - make_interval(secs => :retention) LIMIT :batch)"
    " AND created_at < now() - make_interval(secs => :retention)"
)

_KEY_OF_REQUEST = web.RequestKey("idempotency_key", str)
# What jsonb refuses in a string: NUL, and an unpaired surrogate (JSON's "\ud800" decodes to
# one). An error's details may echo the client's own input; stored, these become U+FFFD.
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")

# Waiting rather than Stripe's 409 `idempotency_key_in_use`: a handler here is a few
# statements, so the wait is short, and a racing retry gets exactly what a later retry would
# (the first answer), with no new error for clients to handle or the document to list.
# A claim older than this is abandoned (its process died): far above any handler's run, so a
# live handler is not overtaken, and a waiting retry then runs the request itself.
ABANDONED_AFTER = timedelta(seconds=60)
# While its handler runs, a claim is renewed four times per ABANDONED_AFTER, so a live one
# never looks abandoned however long the handler takes (a Telegram call allows 60 s).
_RENEWALS_PER_WINDOW = 4
# A waiting retry looks at the claim this often, doubling up to the cap.
_FIRST_LOOK, _MAX_LOOK = 0.02, 0.5
# `status` besides an HTTP status: claimed, not answered yet; answered, only the hash kept.
_IN_PROGRESS, _UNSTORED = 0, 1

_CLAIM = (
    "INSERT INTO tokens.idempotency_keys AS k (user_id, key, request_hash, status, response)"
    " VALUES ($1, $2, $3, 0, $4::text::jsonb) ON CONFLICT (user_id, key) DO UPDATE"
    " SET request_hash = EXCLUDED.request_hash, response = EXCLUDED.response,"
    " created_at = now() WHERE k.status = 0 AND k.created_at < now() - $5::interval"
    " RETURNING true"
)
_LOOKUP = (
    "SELECT request_hash, status, response::text FROM tokens.idempotency_keys"
    " WHERE user_id = $1 AND key = $2"
)
# Each only while the claim is still this request's (its token), not one that took it over.
_FINISH = (
    "UPDATE tokens.idempotency_keys SET status = $4, response = $5::text::jsonb"
    " WHERE user_id = $1 AND key = $2 AND status = 0 AND response = $3::text::jsonb"
)
_RENEW = (
    "UPDATE tokens.idempotency_keys SET created_at = now()"
    " WHERE user_id = $1 AND key = $2 AND status = 0 AND response = $3::text::jsonb"
)
# Not a DELETE: a released claim is one already abandoned, for any waiting retry to take.
_RELEASE = (
    "UPDATE tokens.idempotency_keys SET created_at = '-infinity'"
    " WHERE user_id = $1 AND key = $2 AND status = 0 AND response = $3::text::jsonb"
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
        claim = _Claim(context_of(request).db, current_user(request).id, key, digest)
        request[_KEY_OF_REQUEST] = key
        stored = await claim.take()
        if stored is None:
            return await _run(handler, request, claim)
        status, raw = stored
        if status == _UNSTORED:
            return await _keyed(handler, request)
        return _replay(request, status, raw)

    return once


async def _run(handler: Handler, request: web.Request, claim: _Claim) -> web.StreamResponse:
    """The claimed request: its answer stored over the claim, or the claim released."""
    renewal = asyncio.create_task(claim.renew())
    try:
        response = await _keyed(handler, request)
    except BaseException as error:
        await _stop(renewal)
        # A refusal on the key's own ground is not this body's answer: its first body's is.
        if (
            isinstance(error, DomainError)
            and error.status < 500
            and not isinstance(error, ReplayedError | IdempotencyKeyReused)
        ):
            failure = {"code": error.code, "message": error.message, "details": error.details}
            await claim.finish(error.status, failure)
        else:
            await claim.release()
        raise
    await _stop(renewal)
    if response.status >= 300:
        await claim.release()
    elif RESPONSE_DATA in response:
        await claim.finish(response.status, response[RESPONSE_DATA])
    else:
        # The route keeps its answer out of the store; the key still keeps the request's hash.
        await claim.finish(_UNSTORED, None)
    return response


async def _stop(renewal: asyncio.Task[None]) -> None:
    """Ends the renewal before the claim is finished or released, so it cannot touch the key
    after."""
    renewal.cancel()
    # Waits without taking the renewal's CancelledError for this task's own: a cancellation
    # of the request while it waits still reaches the request.
    await asyncio.wait([renewal])


async def _keyed(handler: Handler, request: web.Request) -> web.StreamResponse:
    try:
        return await handler(request)
    except ExistsWithDifferentFields:
        # An id derived from the key exists with other fields: another body got there first.
        raise IdempotencyKeyReused("this Idempotency-Key was used with another request") from None


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
        return await _keyed(handler, request)

    return keyed


def _replay(request: web.Request, status: int, raw: str) -> web.Response:
    response = json.loads(raw)
    if status >= 400:
        raise ReplayedError(
            status, response["code"], response["message"], response.get("details", {})
        )
    return ok(request, response, status=status)


@dataclass(frozen=True)
class _Claim:
    """One request's hold on (user, key), told apart from a later one's by its token."""

    db: Database
    user_id: UUID
    key: str
    digest: str
    token: str = field(default_factory=lambda: json.dumps({"claim": uuid4().hex}))
    abandoned_after: timedelta = ABANDONED_AFTER

    async def take(self) -> tuple[int, str] | None:
        """None once this request holds the key; else the stored (status, response), after
        waiting out another request's claim. Raises IdempotencyKeyReused."""
        wait = _FIRST_LOOK
        while True:
            async with self.db.statement() as conn:
                driver = await _driver(conn)
                args = (self.user_id, self.key, self.digest, self.token, self.abandoned_after)
                if await driver.fetchval(_CLAIM, *args):
                    return None
                row = await driver.fetchrow(_LOOKUP, self.user_id, self.key)
            if row is None:
                continue  # purged between the two statements: the key is free again
            # The same key with another body is refused at once, even while the first runs.
            if row[0] != self.digest:
                raise IdempotencyKeyReused("this Idempotency-Key was used with another request")
            if row[1] != _IN_PROGRESS:
                return row[1], row[2]
            await asyncio.sleep(wait)
            wait = min(wait * 2, _MAX_LOOK)

    async def renew(self) -> None:
        """Keep the claim alive until cancelled. A renewal that fails is retried at the next
        interval; a claim left unrenewed for `abandoned_after` is taken over, as before."""
        interval = self.abandoned_after.total_seconds() / _RENEWALS_PER_WINDOW
        while True:
            await asyncio.sleep(interval)
            with contextlib.suppress(Exception):
                async with self.db.statement() as conn:
                    await (await _driver(conn)).fetchval(_RENEW, self.user_id, self.key, self.token)

    async def finish(self, status: int, response: Any) -> None:
        stored = json.dumps(_storable(response), default=str)
        async with self.db.statement() as conn:
            await (await _driver(conn)).fetchval(
                _FINISH, self.user_id, self.key, self.token, status, stored
            )

    async def release(self) -> None:
        # The handler's error is what matters; a claim this fails to release is abandoned
        # after ABANDONED_AFTER all the same.
        with contextlib.suppress(Exception):
            async with self.db.statement() as conn:
                await (await _driver(conn)).fetchval(_RELEASE, self.user_id, self.key, self.token)


async def _driver(conn: Any) -> Any:
    return (await conn.get_raw_connection()).driver_connection


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


async def purge_keys(
    db: Database, retention: timedelta = KEY_RETENTION, *, batch_size: int = 5000
) -> int:
    """Delete keys older than `retention`; how many this instance deleted."""
    return await purge_in_batches(
        db,
        locks.IDEMPOTENCY_PURGE,
        _PURGE,
        {"retention": retention.total_seconds()},
        batch_size,
    )
