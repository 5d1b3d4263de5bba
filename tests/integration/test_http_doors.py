"""The HTTP doors as sub-apps: each has only the middlewares it needs."""

from __future__ import annotations

import asyncio
from typing import Any

from aiogram import Bot, Dispatcher
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from app.capabilities import CAPABILITIES, http_routes
from app.services import Limits
from bot.webhook import mount_webhook
from db.database import Database
from sandbox.botapi import BotApiServer
from services.i18n import Catalog
from services.ratelimit.limiter import RateLimiter, make_storage
from tests.services import http_config, make_services
from tests.telegram import tg_user
from webapp_api.app import create_root_app
from webapp_api.webhooks import ProviderWebhook

SECRET = "webhook-secret_42"
BURST = 500


async def test_a_burst_of_webhook_updates_from_one_address_is_all_taken(
    db: Database,
    catalog: Catalog,
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    dispatcher: Dispatcher,
) -> None:
    """Telegram posts every user's updates from a few addresses: the Mini App's per-address
    limit (here 5 a minute) must not apply to them, while it still holds on `/api/v1`."""
    api, _ = botapi
    limits = Limits(
        api_user=None,
        api_ip=RateLimiter.create(make_storage(None), "api-ip", "5/minute"),
        bot=None,
    )
    root = create_root_app(
        make_services(db, catalog, limits=limits), http_config(), routes=http_routes(CAPABILITIES)
    )
    mount_webhook(root, dispatcher, bot, path="/telegram/webhook", secret=SECRET)
    updates = [await api.user_sends(tg_user(20_000 + n), "/help") for n in range(BURST)]
    async with TestClient(TestServer(root, host="127.0.0.1")) as client:
        gate = asyncio.Semaphore(64)

        async def post(update: dict[str, Any]) -> int:
            async with gate:
                response = await client.post(
                    "/telegram/webhook",
                    json=update,
                    headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                )
                return response.status

        statuses = await asyncio.gather(*(post(update) for update in updates))
        assert statuses == [200] * BURST
        async with asyncio.timeout(60):
            while len(api.calls_of("sendMessage")) < BURST:
                await asyncio.sleep(0.05)
        answered = {int(call["chat_id"]) for call in api.calls_of("sendMessage")}
        assert answered == {20_000 + n for n in range(BURST)}

        api_statuses = [(await client.get("/api/v1/health")).status for _ in range(7)]
        assert api_statuses[:5] == [200] * 5 and 429 in api_statuses[5:]


async def test_the_webhook_answers_only_to_telegrams_secret(
    db: Database, catalog: Catalog, bot: Bot, dispatcher: Dispatcher
) -> None:
    root = create_root_app(make_services(db, catalog), http_config(), routes=())
    mount_webhook(root, dispatcher, bot, path="/telegram/webhook", secret=SECRET)
    async with TestClient(TestServer(root, host="127.0.0.1")) as client:
        response = await client.post(
            "/telegram/webhook",
            json={"update_id": 1},
            headers={"X-Telegram-Bot-Api-Secret-Token": "x"},
        )
        assert response.status == 401
        # Not the Mini App's door: no envelope, no request id.
        assert "X-Request-ID" not in response.headers


async def test_a_provider_callback_gets_the_exact_bytes_without_tma_auth(
    db: Database, catalog: Catalog
) -> None:
    received: list[bytes] = []

    async def acme(request: web.Request, body: bytes) -> web.StreamResponse:
        received.append(body)
        return web.json_response({"ok": True})

    root = create_root_app(
        make_services(db, catalog),
        http_config(max_body_bytes=1024),
        routes=(),
        providers=[ProviderWebhook("acme", acme)],
    )
    raw = b'{ "id" : "job-1",\n  "status":"done" }  '
    async with TestClient(TestServer(root, host="127.0.0.1")) as client:
        response = await client.post(
            "/webhooks/acme", data=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status == 200
        assert received == [raw]
        unknown = await client.post("/webhooks/nobody", data=b"{}")
        assert unknown.status == 404
        assert (await unknown.json())["error"]["code"] == "not_found"
        huge = await client.post("/webhooks/acme", data=b"x" * 2048)
        assert huge.status == 413
        assert (await huge.json())["error"]["code"] == "payload_too_large"
    assert received == [raw]


async def test_paths_outside_every_door_answer_in_the_envelope(
    db: Database, catalog: Catalog
) -> None:
    root = create_root_app(make_services(db, catalog), http_config(), routes=())
    async with TestClient(TestServer(root, host="127.0.0.1")) as client:
        for path in ("/nope", "/api/v1/nope", "/api"):
            response = await client.get(path)
            assert response.status == 404, path
            body = await response.json()
            assert body["error"]["code"] == "not_found"
            assert response.headers["X-Request-ID"] == body["meta"]["requestId"]
        wrong = await client.delete("/api/v1/health")
        assert wrong.status == 405
        assert "GET" in wrong.headers["Allow"]
        assert (await client.get("/app", allow_redirects=False)).headers["Location"] == "/app/"
        page = await client.get("/app/?tgWebAppStartParam=gift_x")
        # A gift link's secret in the page's address must not ride on as a Referer.
        assert (page.status, page.headers["Referrer-Policy"]) == (200, "no-referrer")


def test_provider_names_are_url_segments() -> None:
    """One segment, or a family and a member (`ai/replicate`), never more."""

    async def noop(request: web.Request, body: bytes) -> web.StreamResponse:
        return web.Response()

    ProviderWebhook("ai/replicate", noop)
    for bad in ("", "Acme", "a/b/c", "a/", "/a", "../x", "a/..", "x" * 40):
        try:
            ProviderWebhook(bad, noop)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
