"""The Mini App's generation endpoints: order with an Idempotency-Key (202), read, list,
cancel, and the result served to its owner byte for byte."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
from aiohttp.test_utils import TestClient, TestServer

from app.services import Services
from db.database import Database
from sandbox.initdata import sign_init_data
from services.generation.worker import Worker, WorkerConfig
from services.i18n import Catalog
from services.transfers.config import LedgerConfig
from tests.generation_helpers import drain
from tests.invariants import assert_invariants
from tests.services import http_config, make_services, root_app

TOKEN = "7000000002:API-test-token"
ANN = {"id": 7101, "first_name": "Ann", "username": "ann"}
BOB = {"id": 7102, "first_name": "Bob", "username": "bob"}
ADMIN = {"id": 900, "first_name": "Root"}


@pytest.fixture
async def services(db: Database, catalog: Catalog) -> Services:
    return make_services(db, catalog, ledger=LedgerConfig(welcome_bonus=20_000_000))


@pytest.fixture
async def client(services: Services) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(root_app(services, http_config(TOKEN)))) as test_client:
        yield test_client


def auth(user: dict[str, Any], key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"tma {sign_init_data(TOKEN, user)}"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


async def test_order_follow_and_download(
    client: TestClient[Any, Any], services: Services, owner_url: str
) -> None:
    catalog = await (await client.get("/api/v1/catalog", headers=auth(ANN))).json()
    models = {m["id"]: m for m in catalog["data"]}
    assert {"flux-pro", "midjourney", "suno", "veo3", "runway"} <= set(models)
    assert models["flux-pro"]["price"] == "5000000"
    assert "aspect_ratio" in models["flux-pro"]["params"]["properties"]

    order = {"model": "flux-pro", "prompt": "a red fox", "params": {"aspect_ratio": "16:9"}}
    first = await client.post("/api/v1/generations", json=order, headers=auth(ANN, "k1"))
    assert first.status == 202, await first.text()
    job = (await first.json())["data"]
    assert (job["status"], job["progress"], job["price"]) == ("queued", 0, "5000000")
    again = await client.post("/api/v1/generations", json=order, headers=auth(ANN, "k1"))
    assert (await again.json())["data"]["id"] == job["id"]

    gen = services.generation
    await drain(Worker(gen.db, gen.models, gen.providers, gen.media, WorkerConfig()))
    shown = (
        await (await client.get(f"/api/v1/generations/{job['id']}", headers=auth(ANN))).json()
    )["data"]
    assert shown["status"] == "succeeded" and shown["progress"] == 100
    [output] = shown["outputs"]
    assert (output["mime"], output["width"], output["height"]) == ("image/png", 640, 360)
    media = await client.get(output["url"], headers=auth(ANN))
    assert media.status == 200 and media.content_type == "image/png"
    body = await media.read()
    assert body == gen.media.path(UUID(job["id"]), 0, "image/png").read_bytes()

    # Another user sees neither the job nor its bytes.
    assert (await client.get(f"/api/v1/generations/{job['id']}", headers=auth(BOB))).status == 404
    assert (await client.get(output["url"], headers=auth(BOB))).status == 404
    finished = await client.post(f"/api/v1/generations/{job['id']}/cancel", headers=auth(ANN))
    assert (finished.status, (await finished.json())["error"]["code"]) == (
        409,
        "generation_finished",
    )
    balances = await (await client.get("/api/v1/balances", headers=auth(ANN))).json()
    vibe = next(b for b in balances["data"] if b["asset"] == "VIBE")
    assert vibe["available"] == "15000000"

    refused = await client.get("/api/v1/admin/analytics/ai", headers=auth(ANN))
    assert (refused.status, (await refused.json())["error"]["code"]) == (403, "admin_only")
    stats = await client.get("/api/v1/admin/analytics/ai", headers=auth(ADMIN))
    [local] = (await stats.json())["data"]
    assert (local["provider"], local["jobs"], local["succeeded"]) == ("local", 1, 1)
    assert local["success_rate"] == 1.0 and local["revenue"] == "5000000"
    assert local["cost_usd"] == "40000" and local["p50_ms"] is not None
    await assert_invariants(owner_url)


async def test_list_cancel_and_refusals(client: TestClient[Any, Any], owner_url: str) -> None:
    ids = []
    for n in range(2):
        order = {"model": "suno", "prompt": f"song {n}"}
        response = await client.post("/api/v1/generations", json=order, headers=auth(ANN, f"s{n}"))
        ids.append((await response.json())["data"]["id"])
    page = await (await client.get("/api/v1/generations?limit=1", headers=auth(ANN))).json()
    assert [j["id"] for j in page["data"]] == [ids[1]]
    cursor = page["pagination"]["next_cursor"]
    rest = await (
        await client.get("/api/v1/generations", params={"cursor": cursor}, headers=auth(ANN))
    ).json()
    assert [j["id"] for j in rest["data"]] == [ids[0]]

    cancelled = await client.post(f"/api/v1/generations/{ids[0]}/cancel", headers=auth(ANN))
    assert (await cancelled.json())["data"]["status"] == "cancelled"

    async def refused(body: Any, key: str | None = "x") -> tuple[int, str]:
        response = await client.post("/api/v1/generations", json=body, headers=auth(ANN, key))
        return response.status, (await response.json())["error"]["code"]

    assert await refused({"model": "suno", "prompt": "x"}, None) == (
        422,
        "idempotency_key_required",
    )
    assert (await refused({"model": "nope", "prompt": "x"}))[1] == "model_not_found"
    assert (await refused({"model": "suno", "prompt": "a\x00b"}, "n"))[0] == 422
    assert await refused({"model": "suno", "prompt": "x", "params": {"duration": 999}}, "d") == (
        422,
        "invalid_generation_params",
    )
    # Three VIBE-priced jobs at once: the concurrency quota (2) refuses the third.
    await client.post(
        "/api/v1/generations", json={"model": "flux-pro", "prompt": "x"}, headers=auth(ANN, "f1")
    )
    assert (await refused({"model": "flux-pro", "prompt": "y"}, "f2"))[1] == (
        "generation_too_many_jobs"
    )
    for bad in ("not-a-uuid", "00000000-0000-0000-0000-000000000000"):
        assert (await client.get(f"/api/v1/generations/{bad}", headers=auth(ANN))).status == 404
    assert (
        await client.get(f"/api/v1/generations/{ids[1]}/media/x", headers=auth(ANN))
    ).status == 404
    await assert_invariants(owner_url)


async def test_provider_webhooks_mount_under_webhooks_ai(
    db: Database, catalog: Catalog, tmp_path: Any
) -> None:
    """`POST /webhooks/ai/replicate` through the platform's provider-webhook door: a forged
    delivery is 401, a signed one 200, a replay 200 and ignored."""
    import base64
    import json
    import time
    from datetime import UTC, datetime

    from standardwebhooks.webhooks import Webhook

    from app.capabilities import CAPABILITIES, http_routes, provider_webhooks
    from integrations.ai.replicate import ReplicateProvider
    from tests.generation_helpers import generation
    from webapp_api.app import create_root_app

    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    provider = ReplicateProvider("http://replicate.invalid", "r8_x", webhook_secret=secret)
    gen = generation(db, tmp_path, providers={"replicate": provider}, order=("replicate",))
    services = make_services(db, catalog, generation=gen)
    app = create_root_app(
        services,
        http_config(TOKEN),
        routes=http_routes(CAPABILITIES),
        providers=provider_webhooks(CAPABILITIES, services),
    )
    body = json.dumps({"id": "p-unknown", "status": "succeeded"}).encode()
    stamp = datetime.fromtimestamp(time.time(), tz=UTC)
    headers = {
        "webhook-id": "msg_9",
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_9", stamp, body.decode()),
        "Content-Type": "application/json",
    }
    async with TestClient(TestServer(app)) as client:
        forged = headers | {"webhook-signature": "v1,Zm9yZ2Vk"}
        assert (
            await client.post("/webhooks/ai/replicate", data=body, headers=forged)
        ).status == 401
        for _ in range(2):
            response = await client.post("/webhooks/ai/replicate", data=body, headers=headers)
            assert response.status == 200
        assert (await client.post("/webhooks/ai/local", data=body)).status == 404
