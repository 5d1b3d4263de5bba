"""Input validation at the edge: bad input is a 4xx with a stable code and changes nothing."""

from __future__ import annotations

import json
from typing import TypeVar

import pydantic
from aiohttp import web

from services.errors import ValidationError
from services.validation import field_errors
from webapp_api.errors import InvalidJson

M = TypeVar("M", bound=pydantic.BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    raw = await request.read()
    try:
        payload = json.loads(raw) if raw else None
    # RecursionError: JSON nested deeper than Python's recursion limit (`[[[[...]]]]`).
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise InvalidJson("request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidJson("request body must be a JSON object")
    try:
        return model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise ValidationError("request body is invalid", fields=field_errors(exc)) from None


def read_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except pydantic.ValidationError as exc:
        raise ValidationError("query parameters are invalid", fields=field_errors(exc)) from None
