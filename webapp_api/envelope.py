"""The one response shape: `{success, data, error, meta}` (+ `pagination` on lists)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field

T = TypeVar("T")

REQUEST_ID_KEY = web.RequestKey("request_id", str)
# What `ok` put in `data`, kept on the response for `webapp_api.idempotency` to store.
RESPONSE_DATA = web.ResponseKey("data", object)


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable error code")
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Meta(BaseModel):
    timestamp: datetime
    requestId: str


class Pagination(BaseModel):
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page")
    has_more: bool
    limit: int


class Envelope(BaseModel, Generic[T]):
    success: bool
    data: T | None = None
    error: ErrorBody | None = None
    meta: Meta
    pagination: Pagination | None = None


def _meta(request: web.Request) -> dict[str, Any]:
    return {
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "requestId": request.get(REQUEST_ID_KEY) or "",
    }


def ok(
    request: web.Request,
    data: BaseModel | list[BaseModel] | dict[str, Any] | None,
    *,
    status: int = 200,
    pagination: Pagination | None = None,
) -> web.Response:
    if isinstance(data, BaseModel):
        payload: Any = data.model_dump(mode="json")
    elif isinstance(data, list):
        payload = [item.model_dump(mode="json") for item in data]
    else:
        payload = data
    body: dict[str, Any] = {"success": True, "data": payload, "error": None, "meta": _meta(request)}
    if pagination is not None:
        body["pagination"] = pagination.model_dump(mode="json")
    response = web.json_response(body, status=status)
    response[RESPONSE_DATA] = payload
    return response


def fail(
    request: web.Request,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body = {
        "success": False,
        "data": None,
        "error": {"code": code, "message": message, "details": details or {}},
        "meta": _meta(request),
    }
    return web.json_response(body, status=status, headers=headers)
