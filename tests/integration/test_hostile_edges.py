"""Hostile input at the generation and realtime doors: unsigned provider callbacks, params keys
the idempotency store must keep, cursors beyond PostgreSQL's dates, and a resume on another
instance. Each is refused with a 4xx (or the protocol's answer), never a 500 or a silent close,
and no event reaches a client twice."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import uuid4

import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from app.capabilities import CAPABILITIES, http_routes, provider_webhooks
from db.database import Database
from integrations.ai.local import LocalProvider
from integrations.ai.midjourney import MidjourneyProxyProvider
from integrations.ai.suno import SunoProvider
from sandbox.initdata import sign_init_data
from services.generation.catalog import load_model_catalog
from services.generation.media import MediaStore
from services.generation.service import Quotas
from services.generation.usecase import Generation
from services.i18n import Catalog
from services.realtime.hub import EventHub
from services.realtime.schemas import Event
from services.realtime.service import Realtime
from services.transfers.config import LedgerConfig
from tests.services import API_TOKEN, http_config, make_services, realtime_of
from webapp_api.app import create_root_app

ANN: dict[str, Any] = {"id": 7101, "first_name": "Ann", "username": "ann"}
UUID0 = "00000000-0000-0000-0000-000000000000"

Client = TestClient[Any, Any]


def _auth(key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"tma {sign_init_data(API_TOKEN, ANN)}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


@pytest.fixture
async def client(db: Database, catalog: Catalog, tmp_path: Path) -> AsyncIterator[Client]:
    generation = Generation(
        db=db,
        models=load_model_catalog(None),
        quotas=Quotas(),
        providers={
            "local": LocalProvider(0.0),
            "suno": SunoProvider("http://127.0.0.1:9", "k"),
            "mj": MidjourneyProxyProvider("http://127.0.0.1:9", "k"),
        },
        media=MediaStore(tmp_path),
    )
    services = make_services(
        db, catalog, ledger=LedgerConfig(welcome_bonus=20_000_000), generation=generation
    )
    app = create_root_app(
        services,
        http_config(API_TOKEN),
        routes=http_routes(CAPABILITIES),
        providers=provider_webhooks(CAPABILITIES, services),
    )
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


# --- Unsigned provider callbacks -----------------------------------------------------------

HOSTILE_CALLBACKS = [
    ("suno", b'{"data":{"callbackType":[],"task_id":"t"}}', ""),
    ("suno", b'{"data":{"callbackType":{},"task_id":"t"}}', ""),
    ("suno", b'{"data":{"callbackType":"text","task_id":"t\\u0000"}}', ""),
    ("suno", b'{"data":{"callbackType":"text","task_id":"\\ud800"}}', ""),
    ("suno", b'{"data":{"callbackType":"text","task_id":"' + b"t" * 201 + b'"}}', ""),
    ("suno", b'{"data":{"callbackType":"text","task_id":"t"}}', "?ref=%00"),
    ("suno", b'{"data":{"callbackType":"text","task_id":"t"}}', "?ref=%ED%A0%80"),
    ("suno", b'{"data":{"callbackType":"text","task_id":"t"}}', "?ref=a%20b"),
    ("suno", b'{"data":{"callbackType":"text","task_id":"t"}}', "?ref=" + "a" * 201),
    ("mj", b'{"id":"t\\u0000","status":"x"}', ""),
    ("mj", b'{"id":"\\udc00","status":"x"}', ""),
    ("mj", b'{"id":"t","status":"x","state":"\\u0000"}', ""),
    ("mj", b'{"id":"t","status":"x","state":"\\ud800"}', ""),
    ("mj", b'{"id":"t","status":"x\\u0000"}', ""),
    ("mj", b'{"id":"t","status":[1]}', ""),
    ("mj", b'{"id":"t","status":"x","progress":"5\\u0000"}', ""),
    ("mj", b'{"id":"t","status":"x"}', "?ref=%00"),
]


@pytest.mark.parametrize(("name", "body", "query"), HOSTILE_CALLBACKS)
async def test_a_hostile_unsigned_callback_is_refused_not_a_500(
    client: Client, name: str, body: bytes, query: str
) -> None:
    answer = await client.post(f"/webhooks/ai/{name}{query}", data=body)
    assert answer.status == 401, await answer.text()
    assert await answer.json() == {"ok": False}


async def test_well_formed_unsigned_callbacks_are_still_taken(client: Client) -> None:
    suno = b'{"data":{"callbackType":"text","task_id":"5c79be8e"}}'
    answer = await client.post("/webhooks/ai/suno?ref=9b1c2d3e-0", data=suno)
    assert answer.status == 200, await answer.text()
    mj = b'{"id":"1689231405853400","status":"IN_PROGRESS","progress":"50%","state":"j-1"}'
    answer = await client.post("/webhooks/ai/mj", data=mj)
    assert answer.status == 200, await answer.text()


# --- A params key the idempotency store must keep ------------------------------------------


@pytest.mark.parametrize("key", ["\u0000", "\ud800", "a\u0000b", "\u0085"])
async def test_a_params_key_with_unstorable_characters_is_a_422_and_replays(
    client: Client, key: str
) -> None:
    body = json.dumps({"model": "flux-pro", "prompt": "x", "params": {key: 1}}).encode()
    headers = _auth(f"hostile-{ord(key[0])}-{len(key)}") | {"Content-Type": "application/json"}
    first = await client.post("/api/v1/generations", data=body, headers=headers)
    assert first.status == 422, await first.text()
    error = (await first.json())["error"]
    assert error["code"] == "invalid_generation_params"
    [field] = error["details"]["fields"]
    assert "\u0000" not in field and "\ud800" not in field and "\u0085" not in field
    # (pydantic names no field for a key it cannot hold as UTF-8: an unpaired surrogate)
    assert "\ufffd" in field or key == "\ud800"
    # The refusal was stored: the same key and body answer it again.
    again = await client.post("/api/v1/generations", data=body, headers=headers)
    assert again.status == 422, await again.text()
    assert (await again.json())["error"] == error


# --- Cursors beyond PostgreSQL's (and Python's UTC) dates ----------------------------------


@pytest.mark.parametrize(
    "cursor",
    [
        f"0001-01-01T00:00:00+14:00|{UUID0}",
        f"9999-12-31T23:59:59-14:00|{UUID0}",
        f"2024-01-01T00:00:00\x00|{UUID0}",
        f"2024-01-01T00:00:00+00:00\x00|{UUID0}",
        f"２０２４-01-01T00:00:00+00:00|{UUID0}",
        f"2024-01-01T00:00:00|{UUID0}",
        f"2024-01-01T00:00:00+00:00|{{{UUID0}}}",
        "\ud800",
    ],
)
async def test_a_generation_cursor_out_of_range_or_malformed_is_a_422(
    client: Client, cursor: str
) -> None:
    quoted = quote(cursor, safe="", errors="surrogatepass")
    answer = await client.get(f"/api/v1/generations?cursor={quoted}", headers=_auth())
    assert answer.status == 422, await answer.text()
    assert (await answer.json())["error"]["code"] == "invalid_cursor"


async def test_a_generation_cursor_at_the_edges_of_the_range_is_taken(client: Client) -> None:
    for when in (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)):
        cursor = quote(f"{when.isoformat()}|{UUID0}", safe="")
        answer = await client.get(f"/api/v1/generations?cursor={cursor}", headers=_auth())
        assert answer.status == 200, await answer.text()


# --- Realtime: a resume on another instance, and a cursor beyond bigint --------------------


@pytest.fixture
async def lagging(db: Database, catalog: Catalog) -> AsyncIterator[tuple[Client, Realtime]]:
    """An instance whose listener has not yet read what another instance already sent: its
    `last_event_id` is 0, and the test hands events to its hub as the listener would."""
    realtime = realtime_of(None)
    realtime.listener.connected.set()
    app = create_root_app(
        make_services(db, catalog, realtime=realtime),
        http_config(),
        routes=http_routes(CAPABILITIES),
    )
    test_client: Client = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    yield test_client, realtime
    await test_client.close()


async def _next(ws: ClientWebSocketResponse) -> dict[str, Any]:
    message = await ws.receive(timeout=10.0)
    assert message.type is WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


async def _signed_in(client: Client) -> ClientWebSocketResponse:
    ws = await client.ws_connect("/api/v1/ws")
    await ws.send_json({"type": "auth", "initData": sign_init_data(API_TOKEN, ANN)})
    assert (await _next(ws))["type"] == "ready"
    assert (await _next(ws))["channel"] == "presence"
    return ws


async def _event(db: Database, n: int) -> Event:
    async with db.service() as session:
        user_id = await session.scalar(text("SELECT id FROM auth.users WHERE telegram_id = 7101"))
    return Event(n, user_id, "user", "note", {"n": n}, datetime.now(UTC))


async def test_a_resume_on_a_lagging_instance_sends_no_event_twice(
    db: Database, lagging: tuple[Client, Realtime]
) -> None:
    client, realtime = lagging
    ws = await _signed_in(client)
    # The client had events up to 7 from another instance; this one has handed over none yet.
    await ws.send_json({"type": "resume", "after": 7})
    await ws.send_json({"type": "ping"})
    assert await _next(ws) == {"type": "pong"}
    # This instance's listener catches up: 6 and 7 again, then 8, which is new.
    realtime.hub.dispatch([await _event(db, n) for n in (6, 7, 8)])
    assert (await _next(ws))["id"] == 8
    await ws.send_json({"type": "ping"})
    assert await _next(ws) == {"type": "pong"}
    await ws.close()


async def test_a_resume_cursor_beyond_bigint_is_answered_resync(
    lagging: tuple[Client, Realtime],
) -> None:
    client, _ = lagging
    ws = await _signed_in(client)
    await ws.send_json({"type": "resume", "after": 10**20})
    assert await _next(ws) == {"type": "resync"}
    await ws.send_json({"type": "ping"})
    assert await _next(ws) == {"type": "pong"}
    await ws.close()


def test_a_subscriber_drops_live_events_at_or_below_the_resume_cursor() -> None:
    hub = EventHub()
    user_id = uuid4()
    subscriber = hub.subscribe(user_id)
    now = datetime.now(UTC)
    hub.dispatch([Event(5, user_id, "user", "note", {}, now)])
    subscriber.release([Event(6, user_id, "user", "note", {}, now)], after=5)
    hub.dispatch([Event(n, user_id, "user", "note", {}, now) for n in (4, 5, 6, 7)])
    queued = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    assert [e.id for e in queued if isinstance(e, Event)] == [6, 7]
