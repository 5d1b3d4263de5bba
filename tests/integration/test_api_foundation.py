from __future__ import annotations

import time
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import text

from db.database import Database
from sandbox.initdata import sign_init_data
from tests.api import API_TOKEN, MAX_AGE, tma, web_user

Client = TestClient[Any, Any]


def assert_envelope(body: dict[str, Any], *, success: bool) -> None:
    assert set(body) >= {"success", "data", "error", "meta"}
    assert body["success"] is success
    assert set(body["meta"]) == {"timestamp", "requestId"}
    assert body["meta"]["timestamp"].endswith("Z")


async def test_health_reports_ok_without_auth(api: Client) -> None:
    response = await api.get("/api/v1/health")
    body = await response.json()
    assert response.status == 200
    assert_envelope(body, success=True)
    assert body["data"] == {"status": "ok", "database": "ok", "version": "test"}


async def test_me_returns_the_signed_in_user_and_creates_them_once(api: Client) -> None:
    user = web_user(501, "Zoë", username="zoe", is_premium=True, photo_url="https://t.me/i/zoe.jpg")
    first = await (await api.get("/api/v1/me", headers=tma(user))).json()
    again = await (await api.get("/api/v1/me", headers=tma(user))).json()
    assert_envelope(first, success=True)
    profile = first["data"]
    assert (
        profile["telegram_id"] == 501
        and profile["username"] == "zoe"
        and profile["first_name"] == "Zoë"
    )
    assert (
        profile["is_premium"] is True and profile["language"] == "en" and profile["role"] == "user"
    )
    assert again["data"]["id"] == profile["id"]


async def test_admin_ids_make_admins(api: Client) -> None:
    body = await (await api.get("/api/v1/me", headers=tma(web_user(900)))).json()
    assert body["data"]["role"] == "admin"


async def test_a_banned_user_is_refused_at_the_edge(api: Client, db: Database) -> None:
    user = web_user(503)
    assert (await api.get("/api/v1/me", headers=tma(user))).status == 200
    async with db.service() as session:
        await session.execute(
            text("UPDATE auth.users SET banned_at = now() WHERE telegram_id = 503")
        )
    status, error = await _error(api, tma(user))
    assert (status, error["code"]) == (403, "user_banned")


async def _error(api: Client, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    response = await api.get("/api/v1/me", headers=headers)
    body = await response.json()
    assert_envelope(body, success=False)
    return response.status, body["error"]


async def test_auth_failures_are_401_with_specific_codes(api: Client) -> None:
    good = sign_init_data(API_TOKEN, web_user(502))
    tampered = good.replace("%22Ann%22", "%22Eve%22")
    assert tampered != good
    stale = sign_init_data(API_TOKEN, web_user(502), auth_date=int(time.time()) - MAX_AGE - 5)
    future = sign_init_data(API_TOKEN, web_user(502), auth_date=int(time.time()) + 3600)
    other_bot = sign_init_data("1:another-bot-token", web_user(502))
    cases = {
        "auth_missing": {},
        "auth_malformed": {"Authorization": "Bearer abc"},
        "auth_bad_signature": {"Authorization": f"tma {tampered}"},
        "auth_expired": {"Authorization": f"tma {stale}"},
    }
    for code, headers in cases.items():
        status, error = await _error(api, headers)
        assert (status, error["code"]) == (401, code)
    for raw in (future,):
        assert (await _error(api, {"Authorization": f"tma {raw}"}))[1]["code"] == "auth_expired"
    assert (await _error(api, {"Authorization": f"tma {other_bot}"}))[1][
        "code"
    ] == "auth_bad_signature"
    assert (await _error(api, {"Authorization": "tma a=1&&b"}))[1]["code"] == "auth_malformed"
    assert (await _error(api, {"Authorization": "tma auth_date=1&hash=ab"}))[1][
        "code"
    ] == "auth_malformed"


async def test_request_id_is_echoed_or_made(api: Client) -> None:
    response = await api.get("/api/v1/health", headers={"X-Request-ID": "req-123"})
    assert response.headers["X-Request-ID"] == "req-123"
    assert (await response.json())["meta"]["requestId"] == "req-123"
    response = await api.get("/api/v1/health", headers={"X-Request-ID": "bad id with spaces"})
    assert len(response.headers["X-Request-ID"]) == 32


async def test_unknown_routes_methods_and_big_bodies_get_the_envelope(api: Client) -> None:
    for method, path, status, code in (
        ("GET", "/api/v1/nope", 404, "not_found"),
        ("GET", "/elsewhere", 404, "not_found"),
        ("POST", "/api/v1/health", 405, "method_not_allowed"),
    ):
        response = await api.request(method, path)
        body = await response.json()
        assert response.status == status and body["error"]["code"] == code
        assert response.content_type == "application/json"
    response = await api.post("/api/v1/health", data=b"x" * 10_000)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "payload_too_large"


async def test_cors_preflight_for_allowed_origin_only(api: Client) -> None:
    headers = {"Origin": "https://app.example.test", "Access-Control-Request-Method": "GET"}
    response = await api.options("/api/v1/me", headers=headers)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.test"
    response = await api.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_openapi_covers_every_route(api: Client) -> None:
    document = await (await api.get("/api/v1/openapi.json")).json()
    assert document["openapi"] == "3.1.0"
    registered = {
        (route.method, route.resource.canonical)
        for route in api.server.app.router.routes()
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method != "HEAD"
        and not route.resource.canonical.endswith("openapi.json")
    }
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert registered == documented
    me = document["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"tma": []}]
    assert me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].startswith(
        "#/components/schemas/"
    )


async def test_patch_me_changes_language_and_rejects_bad_input_without_change(api: Client) -> None:
    headers = tma(web_user(601))
    response = await api.patch("/api/v1/me", json={"language": "ru"}, headers=headers)
    assert response.status == 200 and (await response.json())["data"]["language"] == "ru"
    for body, code in ((b"{not json", "invalid_json"), (b"[1]", "invalid_json")):
        response = await api.patch("/api/v1/me", data=body, headers=headers)
        assert response.status == 422 and (await response.json())["error"]["code"] == code
    response = await api.patch("/api/v1/me", json={"language": "de"}, headers=headers)
    error = (await response.json())["error"]
    assert response.status == 422 and error["code"] == "validation_error"
    assert error["details"]["fields"][0]["loc"] == "language"
    response = await api.patch(
        "/api/v1/me", json={"language": "en", "role": "admin"}, headers=headers
    )
    assert response.status == 422
    me = await (await api.get("/api/v1/me", headers=headers)).json()
    assert me["data"]["language"] == "ru" and me["data"]["role"] == "user"
