"""OpenAPI 3.1 from the route registry and the handlers' own pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from webapp_api.envelope import Envelope, ErrorBody, Meta, Pagination
from webapp_api.registry import RouteSpec

REF = "#/components/schemas/{model}"


class ErrorEnvelope(BaseModel):
    success: bool
    data: None = None
    error: ErrorBody
    meta: Meta


def _response_model(spec: RouteSpec) -> type[BaseModel]:
    if spec.response is None:
        return ErrorEnvelope
    many = spec.paginated or spec.many
    inner: Any = list[spec.response] if many else spec.response  # type: ignore[name-defined]
    return Envelope[inner]


def _operation_id(spec: RouteSpec) -> str:
    return spec.method.lower() + "_" + re.sub(r"[^a-z0-9]+", "_", spec.path.lower()).strip("_")


def error_codes(spec: RouteSpec) -> dict[int, list[str]]:
    """Status → the error codes the route can answer with it, in declaration order."""
    by_status: dict[int, list[str]] = {}
    for error in spec.all_errors:
        codes = by_status.setdefault(error.status, [])
        if error.code not in codes:
            codes.append(error.code)
    return dict(sorted(by_status.items()))


def _error_responses(spec: RouteSpec, envelope: dict[str, Any]) -> dict[str, Any]:
    return {
        str(status): {
            "description": "Error; `error.code` is one of " + ", ".join(f"`{c}`" for c in codes),
            "content": {
                "application/json": {
                    "schema": {
                        "allOf": [
                            envelope,
                            {"properties": {"error": {"properties": {"code": {"enum": codes}}}}},
                        ]
                    }
                }
            },
        }
        for status, codes in error_codes(spec).items()
    }


_DESCRIPTION = (
    "The Mini App's JSON API. Every response is the envelope `{success, data, error, meta}`. "
    "Live events (balances, transfers, announcements) come over the WebSocket `GET /api/v1/ws`;"
    " its messages and close codes are described on that operation, their JSON Schemas are the"
    " `*Message` components."
)


def build_openapi(specs: list[RouteSpec], *, title: str, version: str) -> dict[str, Any]:
    models: list[type[BaseModel]] = [ErrorEnvelope, Pagination]
    for spec in specs:
        models.append(_response_model(spec))
        models.extend(m for m in (spec.body, spec.query) if m is not None)
        models.extend(spec.schemas)
    unique = list(dict.fromkeys(models))
    refs, top = models_json_schema([(m, "serialization") for m in unique], ref_template=REF)
    schema_of = {model: refs[(model, "serialization")] for model in unique}

    paths: dict[str, dict[str, Any]] = {}
    for spec in specs:
        operation: dict[str, Any] = {
            "summary": spec.summary,
            "tags": [spec.tag],
            "operationId": _operation_id(spec),
            "responses": {
                str(spec.status): {
                    "description": "Success",
                    "content": {"application/json": {"schema": schema_of[_response_model(spec)]}},
                },
                **_error_responses(spec, schema_of[ErrorEnvelope]),
                "default": {
                    "description": "Any other error: malformed HTTP (400, 404, 405, 413, 415) "
                    "or a server fault (5xx), in the error envelope",
                    "content": {"application/json": {"schema": schema_of[ErrorEnvelope]}},
                },
            },
        }
        parameters: list[dict[str, Any]] = [
            {
                "name": h.name,
                "in": "header",
                "required": h.required,
                "description": h.description,
                "schema": h.schema,
            }
            for h in spec.all_headers
        ]
        for name in re.findall(r"{(\w+)}", spec.path):
            parameters.append(
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            )
        if spec.query is not None:
            for name, field in spec.query.model_fields.items():
                prop = spec.query.model_json_schema(ref_template=REF)["properties"][name]
                parameters.append(
                    {"name": name, "in": "query", "required": field.is_required(), "schema": prop}
                )
        if spec.description:
            operation["description"] = spec.description
        if parameters:
            operation["parameters"] = parameters
        if spec.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema_of[spec.body]}},
            }
        if spec.auth:
            operation["security"] = [{"tma": []}]
        paths.setdefault(spec.path, {})[spec.method.lower()] = operation

    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": top.get("$defs", {}),
            "securitySchemes": {
                "tma": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "`tma <Telegram.WebApp.initData>`",
                }
            },
        },
    }
