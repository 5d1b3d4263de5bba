"""API idempotency: (user, Idempotency-Key) -> the request's hash and the first response.

The same key with the same body answers the first response again (an error included); the
same key with another body is a 409 `idempotency_key_reused`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import Database, ServiceTx
from services.errors import DomainError
from services.ledger.errors import ExistsWithDifferentFields
from services.transfers.errors import IdempotencyKeyRequired, IdempotencyKeyReused

MAX_KEY = 255
# Visible ASCII only: a UUID, a ULID or any token a client makes fits, and the key is the same
# string whatever the client's or proxy's header encoding.
KEY_PATTERN = rf"^[\x21-\x7e]{{1,{MAX_KEY}}}$"
_KEY = re.compile(KEY_PATTERN)

_LOOKUP = text(
    "SELECT request_hash, status, response FROM tokens.idempotency_keys "
    "WHERE user_id = :user_id AND key = :key"
)
_REMEMBER = text(
    """
    INSERT INTO tokens.idempotency_keys (user_id, key, request_hash, status, response)
    VALUES (:user_id, :key, :request_hash, :status, CAST(:response AS jsonb))
    ON CONFLICT (user_id, key) DO NOTHING
    """
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


async def run_once(
    db: Database,
    *,
    user_id: UUID,
    key: str,
    body: dict[str, Any],
    action: Callable[[ServiceTx], Awaitable[dict[str, Any]]],
    status: int = 201,
) -> dict[str, Any]:
    """Run `action` in a service transaction once per (user, key); returns its response data.

    Raises IdempotencyKeyReused, the action's DomainError, or a ReplayedError
    repeating the first attempt's error.
    """
    digest = request_hash(body)
    async with db.service() as session:
        stored = (await session.execute(_LOOKUP, {"user_id": user_id, "key": key})).one_or_none()
    if stored is not None:
        return _replay(stored.request_hash, digest, stored.status, stored.response)
    try:
        async with db.service() as session:
            data = await action(session)
            await _remember(session, user_id, key, digest, status, data)
    except DomainError as error:
        if isinstance(error, ExistsWithDifferentFields):
            # The transfer id derives from the key: another body got there first.
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with another request"
            ) from None
        if isinstance(error, ReplayedError) or error.status >= 500:
            raise
        failure = {"code": error.code, "message": error.message, "details": error.details}
        async with db.service() as session:
            await _remember(session, user_id, key, digest, error.status, failure)
        raise
    return data


def _replay(stored_hash: str, digest: str, status: int, response: dict[str, Any]) -> dict[str, Any]:
    if stored_hash != digest:
        raise IdempotencyKeyReused("this Idempotency-Key was used with another request")
    if status >= 400:
        raise ReplayedError(
            status, response["code"], response["message"], response.get("details", {})
        )
    return response


async def _remember(
    session: ServiceTx,
    user_id: UUID,
    key: str,
    digest: str,
    status: int,
    response: dict[str, Any],
) -> None:
    await session.execute(
        _REMEMBER,
        {
            "user_id": user_id,
            "key": key,
            "request_hash": digest,
            "status": status,
            "response": json.dumps(response),
        },
    )
