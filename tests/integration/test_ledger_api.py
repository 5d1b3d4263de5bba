"""The Mini App's ledger endpoints: assets, balances, history, idempotent transfers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from db.database import Database
from sandbox.initdata import sign_init_data
from services.i18n import Catalog
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig, P2PRules
from tests.api import api_context
from webapp_api.app import create_api_app

TOKEN = "7000000002:API-test-token"
ANN = {"id": 7001, "first_name": "Ann", "username": "ann"}
BOB = {"id": 7002, "first_name": "Bob", "username": "bob"}


@pytest.fixture(params=["session", "batcher"])
async def client(
    request: pytest.FixtureRequest, db: Database, catalog: Catalog
) -> AsyncIterator[TestClient[Any, Any]]:
    rules = P2PRules(fee_bps=100, minimum="0.01", daily_limit="15")
    batcher = SendBatcher(db, rules) if request.param == "batcher" else None
    context = api_context(
        db,
        catalog,
        bot_token=TOKEN,
        admin_ids=frozenset(),
        ledger=LedgerConfig(welcome_bonus=20_000_000, p2p=rules),
        executor=batcher,
    )
    async with TestClient(TestServer(create_api_app(context))) as test_client:
        yield test_client
    if batcher is not None:
        await batcher.close()


def auth(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"tma {sign_init_data(TOKEN, user)}"}


async def balances(client: TestClient[Any, Any], user: dict[str, Any]) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/balances", headers=auth(user))
    assert response.status == 200
    return {row["asset"]: row for row in (await response.json())["data"]}


async def test_assets_are_listed_with_decimals(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/assets")
    data = {a["code"]: a for a in (await response.json())["data"]}
    assert {code: a["decimals"] for code, a in data.items()} == {
        "VIBE": 6,
        "TON": 9,
        "USDT": 6,
        "TAC": 18,
    }
    assert data["VIBE"] == {
        "code": "VIBE",
        "name": "Good Vibe token",
        "decimals": 6,
        "transferable": True,
    }


async def test_new_user_has_welcome_bonus_once_and_zero_rows_for_other_assets(
    client: TestClient[Any, Any],
) -> None:
    first = await balances(client, ANN)
    again = await balances(client, ANN)
    assert first == again
    assert first["VIBE"] == {
        "asset": "VIBE",
        "decimals": 6,
        "available": "20000000",
        "pending": "0",
        "posted": "20000000",
    }
    assert first["TAC"] == {
        "asset": "TAC",
        "decimals": 18,
        "available": "0",
        "pending": "0",
        "posted": "0",
    }


async def test_transfer_is_idempotent_by_key_and_shows_in_history(
    client: TestClient[Any, Any],
) -> None:
    await balances(client, BOB)
    body = {"recipient": "@bob", "asset": "VIBE", "amount": "5000000", "memo": "lunch"}
    headers = auth(ANN) | {"Idempotency-Key": "k-1"}
    first = await client.post("/api/v1/transfers", json=body, headers=headers)
    assert first.status == 201, await first.text()
    again = await client.post("/api/v1/transfers", json=body, headers=headers)
    assert again.status == 201
    one, two = (await first.json())["data"], (await again.json())["data"]
    assert one == two
    assert one["amount"] == "5000000" and one["fee"] == "50000" and one["status"] == "posted"
    assert one["recipient"]["username"] == "bob"

    reused = await client.post(
        "/api/v1/transfers", json=body | {"amount": "1000000"}, headers=headers
    )
    assert reused.status == 409
    assert (await reused.json())["error"]["code"] == "idempotency_key_reused"

    assert (await balances(client, ANN))["VIBE"]["available"] == str(20_000_000 - 5_050_000)
    assert (await balances(client, BOB))["VIBE"]["available"] == str(25_000_000)

    response = await client.get("/api/v1/transactions?asset=VIBE&limit=1", headers=auth(BOB))
    page = await response.json()
    [item] = page["data"]
    assert item["direction"] == "in" and item["amount"] == "5000000" and item["code"] == "p2p"
    assert item["memo"] == "lunch" and item["status"] == "posted"
    assert item["counterparty"]["username"] == "ann"
    assert page["pagination"]["has_more"] is True
    rest = await client.get(
        f"/api/v1/transactions?limit=5&cursor={page['pagination']['next_cursor']}",
        headers=auth(BOB),
    )
    [welcome] = (await rest.json())["data"]
    assert welcome["code"] == "welcome_bonus" and welcome["counterparty"] is None
    assert (await rest.json())["pagination"] == {"next_cursor": None, "has_more": False, "limit": 5}


async def test_transfer_errors_are_specific_and_replayed(client: TestClient[Any, Any]) -> None:
    await balances(client, BOB)
    cases = [
        ({"recipient": "@nobody", "amount": "1000000"}, 404, "recipient_not_found"),
        ({"recipient": "@ann", "amount": "1000000"}, 422, "self_transfer"),
        ({"recipient": "@bob", "amount": "100"}, 422, "amount_below_minimum"),
        ({"recipient": "@bob", "amount": "0"}, 422, "invalid_amount"),
        ({"recipient": "@bob", "amount": "1.5"}, 422, "validation_error"),
        ({"recipient": "@bob", "amount": "1000000", "asset": "NOPE"}, 404, "asset_not_found"),
        ({"recipient": "@bob", "amount": "16000000"}, 409, "daily_limit_exceeded"),
        ({"recipient": "@bob", "amount": "100000000", "asset": "TON"}, 409, "insufficient_funds"),
    ]
    for n, (body, status, code) in enumerate(cases):
        headers = auth(ANN) | {"Idempotency-Key": f"e-{n}"}
        response = await client.post("/api/v1/transfers", json=body, headers=headers)
        assert (response.status, (await response.json())["error"]["code"]) == (status, code), body
    missing = await client.post(
        "/api/v1/transfers", json={"recipient": "@bob", "amount": "1"}, headers=auth(ANN)
    )
    assert (await missing.json())["error"]["code"] == "idempotency_key_required"
    # A stored failure answers the same even once the cause is gone.
    replay = await client.post(
        "/api/v1/transfers", json=cases[-1][0], headers=auth(ANN) | {"Idempotency-Key": "e-7"}
    )
    assert (replay.status, (await replay.json())["error"]["code"]) == (409, "insufficient_funds")


async def test_openapi_documents_the_ledger_routes(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/v1/openapi.json")).json()
    assert {
        "/api/v1/assets",
        "/api/v1/balances",
        "/api/v1/transactions",
        "/api/v1/transfers",
    } <= set(document["paths"])
    post = document["paths"]["/api/v1/transfers"]["post"]
    assert post["parameters"][0]["name"] == "Idempotency-Key"


async def test_concurrent_requests_with_one_key_move_once_and_agree(
    client: TestClient[Any, Any],
) -> None:
    import asyncio

    await balances(client, BOB)
    body = {"recipient": "@bob", "asset": "VIBE", "amount": "1000000"}
    headers = auth(ANN) | {"Idempotency-Key": "double-tap"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/transfers", json=body, headers=headers) for _ in range(20))
    )
    statuses = [r.status for r in responses]
    bodies = [(await r.json())["data"] for r in responses]
    assert statuses == [201] * 20, [await r.text() for r in responses if r.status != 201][:2]
    assert all(b == bodies[0] for b in bodies)
    assert (await balances(client, BOB))["VIBE"]["available"] == str(21_000_000)
    assert (await balances(client, ANN))["VIBE"]["available"] == str(20_000_000 - 1_010_000)


async def test_many_keys_racing_one_limit_never_exceed_it(client: TestClient[Any, Any]) -> None:
    import asyncio

    await balances(client, BOB)
    body = {"recipient": "@bob", "asset": "VIBE", "amount": "3000000"}
    responses = await asyncio.gather(
        *(
            client.post(
                "/api/v1/transfers", json=body, headers=auth(ANN) | {"Idempotency-Key": f"k{i}"}
            )
            for i in range(12)
        )
    )
    codes = sorted(
        [(await r.json())["error"]["code"] if r.status != 201 else "ok" for r in responses]
    )
    # The daily limit (15 VIBE) admits five sends of 3 VIBE; the other seven fail cleanly.
    assert codes.count("ok") == 5 and set(codes) - {"ok"} == {"daily_limit_exceeded"}
    assert (await balances(client, ANN))["VIBE"]["available"] == str(20_000_000 - 5 * 3_030_000)
