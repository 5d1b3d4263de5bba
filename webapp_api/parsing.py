"""Input validation at the edge: bad input is a 4xx with a stable code and changes nothing."""

from __future__ import annotations

import json
from typing import TypeVar, cast

import pydantic
from aiohttp import web

from services.errors import ValidationError
from services.validation import field_errors, parse_digits
from webapp_api.errors import InvalidJson

M = TypeVar("M", bound=pydantic.BaseModel)
# The body parsed once per request: an edge wrapper (`webapp_api.idempotency`) and the handler
# both ask for it.
_PARSED = web.RequestKey("parsed_body", pydantic.BaseModel)


async def read_body(request: web.Request, model: type[M]) -> M:
    parsed = request.get(_PARSED)
    if isinstance(parsed, model):
        return parsed
    raw = await request.read()
    try:
        payload = json.loads(raw) if raw else None
    # ValueError covers malformed JSON, bytes that are not UTF-8 and an integer of more than
    # 4,300 digits (Python's int-from-string limit); RecursionError: JSON nested deeper than
    # Python's recursion limit (`[[[[...]]]]`).
    except (ValueError, RecursionError):
        raise InvalidJson("request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise InvalidJson("request body must be a JSON object")
    try:
        parsed = model.model_validate(payload)
    except pydantic.ValidationError as exc:
        raise ValidationError("request body is invalid", fields=field_errors(exc)) from None
    request[_PARSED] = cast(pydantic.BaseModel, parsed)
    return parsed


def read_query(request: web.Request, model: type[M]) -> M:
    # `?level=1&level=9` would be read as its first value: which one the client meant is
    # anybody's guess, so a parameter of ours given twice is refused (named by our name for
    # it; an unknown one is ignored like any unknown parameter).
    repeated = [name for name in model.model_fields if len(request.query.getall(name, ())) > 1]
    if repeated:
        raise ValidationError(
            "query parameters are repeated",
            fields=[
                {"loc": n, "msg": "given more than once", "type": "repeated"} for n in repeated
            ],
        )
    # Pydantic's lax ints take " 1", "+1", "01" and "1.0" for 1; a number in our query
    # strings is written one way, as the links and the Mini App write it.
    loose = [
        name
        for name, field in model.model_fields.items()
        if field.annotation is int
        and name in request.query
        and not _plain_integer(request.query[name])
    ]
    if loose:
        raise ValidationError(
            "query parameters are invalid",
            fields=[
                {"loc": n, "msg": "not a whole number in decimal digits", "type": "int_parsing"}
                for n in loose
            ],
        )
    try:
        return model.model_validate(dict(request.query))
    except pydantic.ValidationError as exc:
        raise ValidationError("query parameters are invalid", fields=field_errors(exc)) from None


def _plain_integer(text: str) -> bool:
    """ASCII digits, as `str(int)` writes them: no sign, space, point or leading zero."""
    value = parse_digits(text, max_digits=18)
    return value is not None and str(value) == text
