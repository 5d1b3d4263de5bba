"""`GET /api/v1/ws` against a real database and a running listener: first-message auth and its
close codes, the connection cap, resume after a drop, isolation between users, and a transfer
made through the API arriving on the recipient's socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from db.database import Database
from db.urls import app_url_from_owner, asyncpg_dsn
from sandbox.initdata import sign_init_data
from services.i18n import Catalog
from services.realtime.presence import DirectReferrals, no_referrals
from services.realtime.service import Realtime, publish
from tests.services import API_TOKEN, MAX_AGE, http_config, make_services, realtime_of, root_app
from webapp_api.routes import realtime as realtime_route

DEADLINE = 10.0
ANN: dict[str, Any] = {"id": 7101, "first_name": "Ann", "username": "ann"}
BOB: dict[str, Any] = {"id": 7102, "first_name": "Bob", "username": "bob"}

Client = TestClient[Any, Any]


@pytest.fixture
async def live(owner_url: str) -> AsyncIterator[Realtime]:
    realtime = realtime_of(asyncpg_dsn(app_url_from_owner(owner_url)), max_per_user=2)
    stop = asyncio.Event()
    task = asyncio.create_task(realtime.listener.run(stop))
    await asyncio.wait_for(realtime.listener.connected.wait(), DEADLINE)
    yield realtime
    stop.set()
    await asyncio.wait_for(task, DEADLINE)


@pytest.fixture
async def client(db: Database, catalog: Catalog, live: Realtime) -> AsyncIterator[Client]:
    app = root_app(make_services(db, catalog, realtime=live), http_config())
    test_client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    yield test_client
    await test_client.close()


def _auth(user: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {"type": "auth", "initData": sign_init_data(API_TOKEN, user, **kwargs)}


async def _connect(client: Client, user: dict[str, Any]) -> tuple[ClientWebSocketResponse, int]:
    ws = await client.ws_connect("/api/v1/ws")
    await ws.send_json(_auth(user))
    ready = await _next(ws)
    assert ready["type"] == "ready", ready
    presence = await _next(ws)  # then who is online, before any event
    assert presence["channel"] == "presence", presence
    return ws, int(ready["last_event_id"])


async def _next(ws: ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=DEADLINE)
    assert message.type is WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


async def _closed_with(ws: ClientWebSocketResponse) -> int | None:
    message = await ws.receive(timeout=DEADLINE)
    assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING), message
    return ws.close_code


async def _user_id(db: Database, telegram_id: int) -> Any:
    async with db.service() as session:
        return await session.scalar(
            text("SELECT id FROM auth.users WHERE telegram_id = :t"), {"t": telegram_id}
        )


async def test_no_auth_within_the_time_is_4001(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(realtime_route, "AUTH_SECONDS", 0.2)
    ws = await client.ws_connect("/api/v1/ws")
    assert await _closed_with(ws) == 4001


@pytest.mark.parametrize(
    "first",
    [
        {"type": "auth", "initData": "user=%7B%7D&auth_date=1&hash=00"},
        _auth(ANN, auth_date=int(time.time()) - MAX_AGE - 60),  # expired
        {"type": "auth", "initData": sign_init_data("1:other-bot-token", ANN)},
        {"type": "resume", "after": 0},
        {"type": "auth"},
    ],
    ids=["malformed", "expired", "other-bot", "not-auth", "no-initdata"],
)
async def test_bad_or_expired_init_data_or_another_first_message_is_4003(
    client: Client, first: dict[str, Any]
) -> None:
    ws = await client.ws_connect("/api/v1/ws")
    await ws.send_json(first)
    assert await _closed_with(ws) == 4003


async def test_a_binary_first_message_is_4003(client: Client) -> None:
    ws = await client.ws_connect("/api/v1/ws")
    await ws.send_bytes(b"\x00")
    assert await _closed_with(ws) == 4003


async def test_a_plain_request_is_told_to_upgrade(client: Client) -> None:
    response = await client.get("/api/v1/ws")
    assert response.status == 426
    assert (await response.json())["error"]["code"] == "upgrade_required"


async def test_over_the_per_user_cap_is_4029_and_a_closed_socket_frees_its_place(
    client: Client,
) -> None:
    first, _ = await _connect(client, ANN)
    second, _ = await _connect(client, ANN)
    third = await client.ws_connect("/api/v1/ws")
    await third.send_json(_auth(ANN))
    assert await _closed_with(third) == 4029
    other, _ = await _connect(client, BOB)  # the cap is per user
    await first.close()
    again, _ = await _connect(client, ANN)
    for ws in (second, other, again):
        await ws.close()


async def test_resume_replays_exactly_the_missed_events_in_order_then_live(
    client: Client, db: Database
) -> None:
    ws, _ = await _connect(client, ANN)
    ann = await _user_id(db, ANN["id"])
    async with db.service() as session:
        seen = await publish(session, "user", "note", {"n": 0}, user_id=ann)
    # The welcome bonus of Ann's first sign-in comes first.
    while (await _next(ws))["id"] != seen:
        pass
    await ws.close()

    for n in range(1, 51):
        async with db.service() as session:
            await publish(session, "user", "note", {"n": n}, user_id=ann)

    ws, _ = await _connect(client, ANN)
    await ws.send_json({"type": "resume", "after": seen})
    replayed = [await _next(ws) for _ in range(50)]
    assert [e["data"]["n"] for e in replayed] == list(range(1, 51))
    ids = [e["id"] for e in replayed]
    assert ids == sorted(set(ids)) and ids[0] > seen
    assert {e["channel"] for e in replayed} == {"user"}
    assert set(replayed[0]) == {"id", "channel", "type", "data", "ts"}
    # Then live, and nothing twice: the next message is the next event.
    async with db.service() as session:
        live = await publish(session, "user", "note", {"n": 51}, user_id=ann)
    assert (await _next(ws))["id"] == live
    await ws.close()


async def test_resume_from_before_the_retention_is_resync(client: Client, db: Database) -> None:
    ws, _ = await _connect(client, ANN)
    async with db.service() as session:
        await session.execute(text("UPDATE ops.events_horizon SET purged_through = 10"))
    await ws.send_json({"type": "resume", "after": 3})
    assert await _next(ws) == {"type": "resync"}
    await ws.send_json({"type": "ping"})
    while (message := await _next(ws)).get("type") != "pong":
        # The welcome bonus and its balance, live after the resync.
        assert message["type"] in ("transfer", "balance")
    await ws.close()


async def test_a_user_never_receives_another_users_events(client: Client, db: Database) -> None:
    ann_ws, _ = await _connect(client, ANN)
    bob_ws, _ = await _connect(client, BOB)
    ann, bob = await _user_id(db, ANN["id"]), await _user_id(db, BOB["id"])
    async with db.service() as session:
        for n in range(1_000):
            owner = ann if n % 2 else bob
            await publish(session, "user", "note", {"for": str(owner), "n": n}, user_id=owner)
        await publish(session, "announcements", "announcement", {"text": "end"})
    for ws, me in ((ann_ws, ann), (bob_ws, bob)):
        got = []
        while True:
            event = await _next(ws)
            if event["channel"] == "announcements":
                break
            if event["type"] == "transfer":  # the user's own welcome bonus
                assert event["data"]["code"] == "welcome_bonus"
            elif event["type"] == "balance":  # and the balance it left
                assert event["data"]["posted"] == event["data"]["available"]
            else:
                got.append(event)
        assert len(got) == 500
        assert {e["data"]["for"] for e in got} == {str(me)}
        assert [e["id"] for e in got] == sorted(e["id"] for e in got)
        await ws.close()


async def test_a_transfer_through_the_api_arrives_on_the_recipients_socket(
    client: Client, db: Database
) -> None:
    bob_ws, _ = await _connect(client, BOB)  # Bob exists (and got his welcome bonus)
    await client.get("/api/v1/me", headers=_tma(ANN))
    response = await client.post(
        "/api/v1/transfers",
        json={"recipient": "@bob", "asset": "VIBE", "amount": "5000000"},
        headers=_tma(ANN) | {"Idempotency-Key": "ws-1"},
    )
    assert response.status == 201, await response.text()
    transfer = (await response.json())["data"]
    while True:
        event = await _next(bob_ws)
        if event["type"] == "transfer" and event["data"]["amount"] == "5000000":
            break
    assert event["channel"] == "user"
    assert event["data"]["direction"] == "in" and event["data"]["asset"] == "VIBE"
    assert event["data"]["transfer_id"] == transfer["transfer_id"]
    await bob_ws.close()


async def test_stopping_the_server_closes_sockets_with_going_away(
    db: Database, catalog: Catalog, live: Realtime
) -> None:
    app = root_app(make_services(db, catalog, realtime=live), http_config())
    test_client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    ws, _ = await _connect(test_client, ANN)
    closing = asyncio.create_task(test_client.server.close())
    assert await _closed_with(ws) == 1001
    await asyncio.wait_for(closing, DEADLINE)
    await test_client.close()


def _tma(user: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": "tma " + sign_init_data(API_TOKEN, user)}


CARL: dict[str, Any] = {"id": 7103, "first_name": "Carl", "username": "carl"}


@contextlib.asynccontextmanager
async def _instance(
    owner_url: str, db: Database, catalog: Catalog, referrals: DirectReferrals = no_referrals
) -> AsyncIterator[Client]:
    """Another API instance on the same database: its own hub, listener and connection rows."""
    realtime = realtime_of(
        asyncpg_dsn(app_url_from_owner(owner_url)), referrals=referrals, max_per_user=2
    )
    stop = asyncio.Event()
    task = asyncio.create_task(realtime.listener.run(stop))
    await asyncio.wait_for(realtime.listener.connected.wait(), DEADLINE)
    app = root_app(make_services(db, catalog, realtime=realtime), http_config())
    test_client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()
        stop.set()
        await asyncio.wait_for(task, DEADLINE)


async def _sockets(db: Database, telegram_id: int) -> int:
    async with db.service() as session:
        return int(
            await session.scalar(
                text(
                    "SELECT coalesce(sum(c.sockets), 0) FROM ops.realtime_connections c"
                    " JOIN auth.users u ON u.id = c.user_id WHERE u.telegram_id = :t"
                ),
                {"t": telegram_id},
            )
        )


async def test_the_per_user_cap_holds_across_instances(
    owner_url: str, db: Database, catalog: Catalog
) -> None:
    async with (
        _instance(owner_url, db, catalog) as a,
        _instance(owner_url, db, catalog) as b,
    ):
        first, _ = await _connect(a, ANN)
        second, _ = await _connect(b, ANN)
        # Each instance holds one of Ann's sockets; a third, on either, is over the cap of 2.
        third = await a.ws_connect("/api/v1/ws")
        await third.send_json(_auth(ANN))
        assert await _closed_with(third) == 4029
        await first.close()
        async with asyncio.timeout(DEADLINE):
            while await _sockets(db, ANN["id"]) != 1:
                await asyncio.sleep(0.05)
        again, _ = await _connect(b, ANN)
        await again.close()
        await second.close()


async def test_many_sockets_racing_on_two_instances_get_exactly_the_cap(
    owner_url: str, db: Database, catalog: Catalog
) -> None:
    async with (
        _instance(owner_url, db, catalog) as a,
        _instance(owner_url, db, catalog) as b,
    ):
        held, _ = await _connect(a, ANN)  # signs Ann up first, so the race is only the sockets

        async def attempt(client: Client) -> tuple[ClientWebSocketResponse, str]:
            ws = await client.ws_connect("/api/v1/ws")
            await ws.send_json(_auth(ANN))
            message = await ws.receive(timeout=DEADLINE)
            kind = json.loads(message.data)["type"] if message.type is WSMsgType.TEXT else "closed"
            return ws, kind

        results = await asyncio.gather(*(attempt(c) for c in (a, b) * 3))
        # Ann already has one socket on `a`: one more is admitted, across both instances.
        assert sorted(kind for _, kind in results) == ["closed"] * 5 + ["ready"]
        assert await _sockets(db, ANN["id"]) == 2
        for ws, _ in results:
            await ws.close()
        await held.close()


async def test_presence_counts_everyone_online_and_shows_only_the_users_own_referrals(
    owner_url: str, db: Database, catalog: Catalog
) -> None:
    ids: dict[int, Any] = {}

    async def referrals(session: Any, user_ids: Any) -> dict[Any, list[Any]]:
        # Ann referred Bob; Carl referred nobody (and is nobody's referral).
        ann, bob = ids.get(ANN["id"]), ids.get(BOB["id"])
        return {ann: [bob]} if ann in user_ids and bob is not None else {}

    async with (
        _instance(owner_url, db, catalog, referrals) as a,
        _instance(owner_url, db, catalog, referrals) as b,
    ):
        for user in (ANN, BOB, CARL):  # signed up, so the referral seam knows their ids
            ws, _ = await _connect(a, user)
            await ws.close()
        async with asyncio.timeout(DEADLINE):
            while any([await _sockets(db, u["id"]) for u in (ANN, BOB, CARL)]):
                await asyncio.sleep(0.05)
        async with db.service() as session:
            for row in await session.execute(text("SELECT telegram_id, id FROM auth.users")):
                ids[row[0]] = row[1]

        bob_ws = await b.ws_connect("/api/v1/ws")  # Bob and Carl on instance B
        await bob_ws.send_json(_auth(BOB))
        assert (await _next(bob_ws))["type"] == "ready"
        assert (await _next(bob_ws))["data"] == {"online": 1, "referrals_online": []}
        carl, _ = await _connect(b, CARL)
        ann_ws = await a.ws_connect("/api/v1/ws")  # Ann on instance A sees Bob, not Carl
        await ann_ws.send_json(_auth(ANN))
        assert (await _next(ann_ws))["type"] == "ready"
        presence = await _next(ann_ws)
        assert presence == {
            "channel": "presence",
            "type": "presence",
            "data": {"online": 3, "referrals_online": [str(ids[BOB["id"]])]},
        }
        for ws in (bob_ws, carl, ann_ws):
            await ws.close()
