"""The referral and list routes at the API's edge: forged cursors, repeated parameters, a
level out of range and Telegram away each get the stable code the document lists.

Each case answered 200, or a code the route's document did not list, before.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.client import make_bot
from db.database import Database
from integrations.telegram.stars import BotStars
from services.i18n import Catalog
from tests.api import tma, web_user
from tests.services import http_config, make_services, platform_specs, purchases_of, root_app
from tests.telegram import TOKEN
from webapp_api.openapi import error_codes

TOP = web_user(8301, "Top")
# A forged cursor that Python's own parsers took: NUL after the timestamp, fullwidth digits.
FORGED = [
    f"2026-01-01T00:00:00+00:00\x00|{uuid4()}",
    "2026-01-01T00:00:00+00:00|" + "\uff10" * 8 + str(uuid4())[8:],
]


def cursor_of(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


async def error_of(response: Any) -> tuple[int, str, dict[str, Any]]:
    body = await response.json()
    assert body["success"] is False and body["data"] is None, body
    return response.status, body["error"]["code"], body["error"]["details"]


def documented(method: str, path: str) -> dict[int, list[str]]:
    [spec] = [s for s in platform_specs() if (s.method, s.path) == (method, path)]
    return error_codes(spec)


async def referees_of(api: TestClient[Any, Any], count: int) -> list[str]:
    """`count` users who opened the app from TOP's link, in the order they joined."""
    response = await api.get("/api/v1/me", headers=tma(TOP))
    code = (await response.json())["data"]["referral_code"]
    ids = []
    for n in range(count):
        joined = await api.get(
            "/api/v1/me", headers=tma(web_user(8310 + n), start_param=f"ref_{code}")
        )
        ids.append((await joined.json())["data"]["id"])
    return ids


async def test_walking_the_downline_by_its_cursor_reads_every_referee_once(
    api: TestClient[Any, Any],
) -> None:
    """The strict decoder takes every cursor the encoder writes (the same code pages history,
    purchases and the downline)."""
    ids = await referees_of(api, 5)
    walked: list[str] = []
    query = "level=1&limit=2"
    for _ in range(5):
        response = await api.get(f"/api/v1/referrals/downline?{query}", headers=tma(TOP))
        assert response.status == 200, await response.text()
        body = await response.json()
        walked += [r["id"] for r in body["data"]]
        if not body["pagination"]["has_more"]:
            break
        query = f"level=1&limit=2&cursor={body['pagination']['next_cursor']}"
    assert walked == ids


@pytest.mark.parametrize("raw", FORGED, ids=["nul-after-time", "fullwidth-uuid"])
@pytest.mark.parametrize("path", ["/api/v1/referrals/downline?level=1", "/api/v1/purchases"])
async def test_a_forged_cursor_is_invalid_cursor_on_every_list(
    api: TestClient[Any, Any], path: str, raw: str
) -> None:
    response = await api.get(path, params={"cursor": cursor_of(raw)}, headers=tma(TOP))
    assert (await error_of(response))[:2] == (422, "invalid_cursor")


@pytest.mark.parametrize(
    "query", ["level=1&level=1", "level=1&cursor=a&cursor=b", "level=1&limit=1&limit=1"]
)
async def test_a_downline_parameter_given_twice_is_refused_and_named(
    api: TestClient[Any, Any], query: str
) -> None:
    """Even twice the same value: the client sent something other than it meant."""
    status, code, details = await error_of(
        await api.get(f"/api/v1/referrals/downline?{query}", headers=tma(TOP))
    )
    [name] = {part.split("=")[0] for part in query.split("&")[1:]}
    assert (status, code) == (422, "validation_error")
    assert [(f["loc"], f["type"]) for f in details["fields"]] == [(name, "repeated")]


@pytest.mark.parametrize("level", ["0", "9", "-1", "99999999999999999999"])
async def test_a_level_out_of_range_is_the_code_the_document_lists(
    api: TestClient[Any, Any], level: str
) -> None:
    status, code, details = await error_of(
        await api.get(f"/api/v1/referrals/downline?level={level}", headers=tma(TOP))
    )
    assert (status, code) == (422, "validation_error")
    assert [f["loc"] for f in details["fields"]] == ["level"]
    assert code in documented("GET", "/api/v1/referrals/downline")[422]
    assert "invalid_level" not in documented("GET", "/api/v1/referrals/downline")[422]


@pytest.mark.parametrize(
    "query", ["level=1.0", "level=+1", "level=01", "level=%201", "limit=2.0&level=1"]
)
async def test_a_number_written_loosely_is_refused(api: TestClient[Any, Any], query: str) -> None:
    """Pydantic's lax ints read each of these as a valid number; our query strings are written
    in plain decimal digits, and anything else is a client's mistake to hear about."""
    status, code, details = await error_of(
        await api.get(f"/api/v1/referrals/downline?{query}", headers=tma(TOP))
    )
    assert (status, code) == (422, "validation_error")
    assert [f["type"] for f in details["fields"]] == ["int_parsing"]


async def test_the_invite_view_with_telegram_away_answers_a_code_its_document_lists(
    db: Database, catalog: Catalog
) -> None:
    """BOT_USERNAME unset and the Bot API unreachable: 503 telegram_unavailable, which the
    route's own document lists (a client learns what to retry from it)."""
    bot = make_bot(TOKEN, "http://127.0.0.1:9")
    sales = replace(purchases_of(db, stars=BotStars(bot)), bot_username="")
    app = root_app(make_services(db, catalog, purchases=sales), http_config())
    try:
        async with TestClient(TestServer(app)) as client:
            response = await client.get("/api/v1/referrals", headers=tma(web_user(8320)))
            status, code, _ = await error_of(response)
    finally:
        await bot.session.close()
    assert (status, code) == (503, "telegram_unavailable")
    assert code in documented("GET", "/api/v1/referrals").get(503, [])
