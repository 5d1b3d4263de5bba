"""The OpenAPI document lists, per operation, each error status with the codes it can carry."""

from __future__ import annotations

from typing import Any

from services.errors import RateLimited, ValidationError
from services.transfers.errors import RecipientNotFound
from services.users.errors import UserBanned
from tests.services import platform_openapi, platform_specs
from webapp_api.errors import AUTH_ERRORS, IdempotencyKeyRequired, InvalidJson


def _codes(operation: dict[str, Any], status: int) -> list[str]:
    schema = operation["responses"][str(status)]["content"]["application/json"]["schema"]
    [envelope, narrowed] = schema["allOf"]
    assert envelope == {"$ref": "#/components/schemas/ErrorEnvelope"}
    codes: list[str] = narrowed["properties"]["error"]["properties"]["code"]["enum"]
    return codes


def test_every_operation_lists_the_codes_its_route_declares() -> None:
    document = platform_openapi()
    for spec in platform_specs():
        operation = document["paths"][spec.path][spec.method.lower()]
        expected: dict[int, set[str]] = {}
        for error in spec.all_errors:
            expected.setdefault(error.status, set()).add(error.code)
        assert set(spec.errors) <= set(spec.all_errors)
        listed = {
            int(status): set(_codes(operation, int(status)))
            for status in operation["responses"]
            if status != "default" and int(status) >= 400
        }
        assert listed == expected, f"{spec.method} {spec.path}"
        for status, codes in expected.items():
            description = operation["responses"][str(status)]["description"]
            assert all(f"`{code}`" in description for code in codes)


def test_the_edge_adds_auth_rate_limit_and_validation_once() -> None:
    specs = {(spec.method, spec.path): spec for spec in platform_specs()}
    transfers = specs[("POST", "/api/v1/transfers")].all_errors
    assert set(AUTH_ERRORS) | {RateLimited, InvalidJson, ValidationError} <= set(transfers)
    assert {IdempotencyKeyRequired, RecipientNotFound, UserBanned} <= set(transfers)
    assets = specs[("GET", "/api/v1/assets")].all_errors  # public, no body, no query
    assert assets == (RateLimited,)
    me = specs[("GET", "/api/v1/me")].all_errors
    assert not set(me) & {ValidationError, InvalidJson}


def test_codes_of_one_status_share_a_response() -> None:
    operation = platform_openapi()["paths"]["/api/v1/transfers"]["post"]
    assert {"validation_error", "invalid_json", "idempotency_key_required"} <= set(
        _codes(operation, 422)
    )
    assert {"insufficient_funds", "idempotency_key_reused", "daily_limit_exceeded"} <= set(
        _codes(operation, 409)
    )
    assert _codes(operation, 401) == [
        "auth_missing",
        "auth_malformed",
        "auth_bad_signature",
        "auth_expired",
    ]
