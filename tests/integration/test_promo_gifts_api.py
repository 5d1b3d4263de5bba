"""Promo codes and gifts through the Mini App API: the same rules as the bot, idempotent posts."""

from __future__ import annotations

import csv
import io
import logging
from typing import Any
from uuid import uuid4

import pytest
from aiohttp.test_utils import TestClient

from tests.api import api, tma, web_user

__all__ = ["api"]

ADMIN = web_user(900, "Root", username="root")  # ADMIN_IDS in tests/services.py
ANN = web_user(7101, "Ann", username="ann_api")
BOB = web_user(7102, "Bob", username="bob_api")


def headers(user: dict[str, Any], key: str | None = None) -> dict[str, str]:
    return {**tma(user), "Idempotency-Key": key or str(uuid4())}


async def post(
    client: TestClient[Any, Any], path: str, user: dict[str, Any], body: Any, key: str | None = None
) -> tuple[int, dict[str, Any]]:
    response = await client.post(path, json=body, headers=headers(user, key))
    return response.status, await response.json()


async def vibe(client: TestClient[Any, Any], user: dict[str, Any]) -> int:
    response = await client.get("/api/v1/balances", headers=tma(user))
    rows = {row["asset"]: row for row in (await response.json())["data"]}
    return int(rows["VIBE"]["available"])


async def test_admin_creates_a_code_users_redeem_it_once_and_the_csv_lists_them(
    api: TestClient[Any, Any],
) -> None:
    terms = {"code": "Hello-API", "asset": "VIBE", "amount": "2000000", "max_uses": 5}
    status, body = await post(api, "/api/v1/admin/promo", ANN, terms)
    assert (status, body["error"]["code"]) == (403, "admin_only")
    status, body = await post(api, "/api/v1/admin/promo", ADMIN, terms)
    assert status == 201, body
    assert body["data"]["code"] == "HELLO-API" and body["data"]["budget"] == "10000000"
    status, body = await post(api, "/api/v1/admin/promo", ADMIN, terms)
    assert (status, body["error"]["code"]) == (409, "promo_code_taken")

    start = await vibe(api, ANN)
    key = str(uuid4())
    first = await post(api, "/api/v1/promo/redeem", ANN, {"code": "hello-api"}, key)
    again = await post(api, "/api/v1/promo/redeem", ANN, {"code": "hello-api"}, key)
    assert first[0] == again[0] == 200 and first[1]["data"] == again[1]["data"]
    assert first[1]["data"]["amount"] == "2000000"
    status, body = await post(api, "/api/v1/promo/redeem", ANN, {"code": "HELLO-API"})
    assert (status, body["error"]["code"]) == (409, "promo_unavailable")
    status, unknown = await post(api, "/api/v1/promo/redeem", ANN, {"code": "NOPE-API"})
    assert (status, unknown["error"]["message"]) == (409, body["error"]["message"])
    assert await vibe(api, ANN) == start + 2_000_000
    assert (await post(api, "/api/v1/promo/redeem", BOB, {"code": "Hello-Api"}))[0] == 200

    stats = await api.get("/api/v1/admin/promo/hello-api", headers=tma(ADMIN))
    data = (await stats.json())["data"]
    assert (data["used"], data["paid"], data["left"]) == (2, "4000000", "6000000")
    export = await api.get("/api/v1/admin/promo/hello-api/redemptions", headers=tma(ADMIN))
    assert export.status == 200 and export.content_type == "text/csv"
    rows = list(csv.DictReader(io.StringIO(await export.text())))
    assert [(r["use_number"], r["telegram_id"]) for r in rows] == [("1", "7101"), ("2", "7102")]
    denied = await api.get("/api/v1/admin/promo/hello-api/redemptions", headers=tma(ANN))
    assert denied.status == 403


async def test_a_gift_link_is_claimed_once_and_its_secret_is_not_replayed(
    api: TestClient[Any, Any],
) -> None:
    start = await vibe(api, ANN)
    body = {"kind": "link", "asset": "VIBE", "amount": "1500000", "message": "hi"}
    key = str(uuid4())
    status, created = await post(api, "/api/v1/gifts", ANN, body, key)
    assert status == 201, created
    link = created["data"]["link"]
    assert link.startswith("https://t.me/goodvibe_local_bot?start=gift_")
    secret = link.split("gift_", 1)[1]
    status, replay = await post(api, "/api/v1/gifts", ANN, body, key)
    assert status == 201 and replay["data"]["id"] == created["data"]["id"]
    assert replay["data"]["link"] is None
    status, reused = await post(api, "/api/v1/gifts", ANN, {**body, "amount": "7"}, key)
    assert (status, reused["error"]["code"]) == (409, "idempotency_key_reused")
    assert await vibe(api, ANN) == start - 1_500_000

    status, claimed = await post(api, "/api/v1/gifts/claim", BOB, {"secret": secret})
    assert status == 200 and claimed["data"]["amount"] == "1500000"
    assert claimed["data"]["message"] == "hi"
    status, again = await post(api, "/api/v1/gifts/claim", BOB, {"secret": secret})
    assert (status, again["error"]["code"]) == (409, "gift_unavailable")
    gift_id = created["data"]["id"]
    status, late = await post(api, f"/api/v1/gifts/{gift_id}/cancel", ANN, None)
    assert (status, late["error"]["code"]) == (409, "gift_not_cancellable")
    status, bad = await post(api, "/api/v1/gifts/not-a-uuid/cancel", ANN, None)
    assert (status, bad["error"]["code"]) == (404, "gift_not_found")

    listed = await api.get("/api/v1/gifts", headers=tma(BOB))
    [mine] = (await listed.json())["data"]
    assert (mine["id"], mine["role"], mine["status"]) == (gift_id, "received", "claimed")


async def test_a_direct_gift_and_a_cancelled_packet(api: TestClient[Any, Any]) -> None:
    await vibe(api, BOB)  # registered
    start = await vibe(api, ANN)
    status, direct = await post(
        api,
        "/api/v1/gifts",
        ANN,
        {"kind": "direct", "amount": "1000000", "recipient": "@bob_api", "message": "thanks"},
    )
    assert status == 201 and direct["data"]["status"] == "sent" and direct["data"]["link"] is None
    status, packet = await post(
        api,
        "/api/v1/gifts",
        ANN,
        {"kind": "packet", "amount": "3000000", "shares": 3, "split": "random"},
    )
    assert status == 201 and packet["data"]["shares"] == 3
    status, cancelled = await post(api, f"/api/v1/gifts/{packet['data']['id']}/cancel", ANN, None)
    assert status == 200 and cancelled["data"]["status"] == "cancelled"
    assert await vibe(api, ANN) == start - 1_000_000
    status, body = await post(api, "/api/v1/gifts", ANN, {"kind": "direct", "amount": "1"})
    assert (status, body["error"]["code"]) == (422, "invalid_gift")


async def test_a_mini_app_claim_link_previews_then_claims_and_its_secret_is_never_logged(
    api: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    cat = web_user(7103, "Cat", username="cat_api")
    for user in (BOB, cat):  # known users, so a link can name Bob
        assert (await api.get("/api/v1/me", headers=tma(user))).status == 200
    body = {"kind": "link", "asset": "VIBE", "amount": "2500000", "message": "for Bob"}
    status, created = await post(api, "/api/v1/gifts", ANN, {**body, "recipient": "@bob_api"})
    assert status == 201, created
    secret = created["data"]["link"].split("gift_", 1)[1]
    assert created["data"]["app_link"] == f"https://t.me/goodvibe_local_bot?startapp=gift_{secret}"

    async def as_opened(user: dict[str, Any], path: str) -> tuple[int, dict[str, Any]]:
        # As the Mini App opened by the link asks: its initData carries start_param too.
        response = await api.post(
            path, json={"secret": secret}, headers=tma(user, start_param=f"gift_{secret}")
        )
        return response.status, await response.json()

    status, seen = await as_opened(BOB, "/api/v1/gifts/preview")
    assert status == 200, seen
    assert seen["data"] | {"expires_at": None} == {
        "kind": "link",
        "asset": "VIBE",
        "decimals": 6,
        "amount": "2500000",
        "shares": 1,
        "shares_left": 1,
        "message": "for Bob",
        "sender": "@ann_api",
        "expires_at": None,
    }
    for user, code, http in ((ANN, "own_gift", 422), (cat, "gift_not_for_you", 403)):
        status, refused = await as_opened(user, "/api/v1/gifts/preview")
        assert (status, refused["error"]["code"]) == (http, code)
    status, claimed = await as_opened(BOB, "/api/v1/gifts/claim")
    assert status == 200 and claimed["data"]["amount"] == "2500000"
    status, gone = await as_opened(BOB, "/api/v1/gifts/preview")
    assert (status, gone["error"]["code"]) == (409, "gift_unavailable")
    status, bad = await post(api, "/api/v1/gifts/preview", BOB, {"secret": "x" * 65})
    assert (status, secret in str(bad)) == (422, False)

    # A packet: who took a share hears so; the others see what is left.
    status, packet = await post(
        api, "/api/v1/gifts", ANN, {"kind": "packet", "amount": "3000000", "shares": 3}
    )
    packet_secret = packet["data"]["link"].split("gift_", 1)[1]
    assert (await post(api, "/api/v1/gifts/claim", BOB, {"secret": packet_secret}))[0] == 200
    status, mine = await post(api, "/api/v1/gifts/preview", BOB, {"secret": packet_secret})
    assert (status, mine["error"]["code"]) == (409, "gift_already_claimed")
    status, left = await post(api, "/api/v1/gifts/preview", cat, {"secret": packet_secret})
    assert (status, left["data"]["shares_left"], left["data"]["amount"]) == (200, 2, "3000000")

    for record in caplog.records:
        logged = record.getMessage() + str(record.args) + str(record.exc_text or "")
        assert secret not in logged and packet_secret not in logged


async def test_share_needs_an_own_open_link_and_a_bot(api: TestClient[Any, Any]) -> None:
    status, created = await post(api, "/api/v1/gifts", ANN, {"kind": "link", "amount": "1000"})
    assert status == 201, created
    gift_id = created["data"]["id"]
    # The test platform runs without a bot: the Mini App falls back to inline mode or copying.
    status, body = await post(api, f"/api/v1/gifts/{gift_id}/share", ANN, None)
    assert (status, body["error"]["code"]) == (503, "share_unavailable")
    for user, path in ((BOB, gift_id), (ANN, "not-a-uuid"), (ANN, str(uuid4()))):
        status, body = await post(api, f"/api/v1/gifts/{path}/share", user, None)
        assert (status, body["error"]["code"]) == (404, "gift_not_found")
    assert (await post(api, f"/api/v1/gifts/{gift_id}/cancel", ANN, None))[0] == 200
    status, body = await post(api, f"/api/v1/gifts/{gift_id}/share", ANN, None)
    assert (status, body["error"]["code"]) == (404, "gift_not_found")
