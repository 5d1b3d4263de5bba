"""Suno (sunoapi.org) and Midjourney (midjourney-proxy) adapters against local servers:
codes in HTTP 200 bodies (429 = out of credit → fallback), stage callbacks deduplicated,
progress "NN%", banned prompts refunded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from db.database import Database
from integrations.ai.local import LocalProvider
from integrations.ai.midjourney import MidjourneyProxyProvider
from integrations.ai.suno import SunoProvider
from services.generation.providers import Handle, JobLost, JobRequest, WebhookRejected
from services.generation.webhooks import receive
from tests.generation_helpers import PRICE, drain, generation, worker
from tests.invariants import assert_invariants
from tests.ledger_helpers import available, fund, make_user

MP3 = b"ID3\x04" + bytes(300)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


async def serve(app: web.Application) -> tuple[TestServer, str]:
    server = TestServer(app)
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


@dataclass
class FakeSuno:
    base: str = ""
    code: int = 200
    reads: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/v1/generate", self.create)
        app.router.add_get("/api/v1/generate/record-info", self.record)
        app.router.add_get("/audio/{name}", self.file)
        return app

    async def create(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer suno_key"
        self.bodies.append(await request.json())
        if self.code != 200:  # logical errors come with HTTP 200
            return web.json_response({"code": self.code, "msg": "Insufficient credits"})
        return web.json_response({"code": 200, "msg": "success", "data": {"taskId": "t-1"}})

    async def record(self, request: web.Request) -> web.Response:
        assert request.query["taskId"] == "t-1"
        self.reads += 1
        status = ["PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS", "SUCCESS"][min(self.reads - 1, 3)]
        tracks = [
            {"id": "a", "audioUrl": f"{self.base}/audio/a.mp3", "duration": 30.5},
            {"id": "b", "audioUrl": f"{self.base}/audio/b.mp3", "duration": 29.0},
        ]
        data = {"taskId": "t-1", "status": status, "response": {"sunoData": tracks}}
        data["param"] = json.dumps(self.bodies[0])  # the task's request, as a JSON string
        return web.json_response({"code": 200, "msg": "success", "data": data})

    async def file(self, request: web.Request) -> web.Response:
        return web.Response(body=MP3, content_type="audio/mpeg")


@pytest.fixture
async def suno() -> AsyncIterator[FakeSuno]:
    fake = FakeSuno()
    server, fake.base = await serve(fake.app())
    yield fake
    await server.close()


async def test_suno_two_tracks_with_callbacks(
    db: Database, owner_url: str, tmp_path: Path, suno: FakeSuno
) -> None:
    provider = SunoProvider(suno.base, "suno_key", poll_seconds=0.01)
    gen = generation(db, tmp_path, providers={"suno": provider}, order=("suno",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="s", model="tune", prompt="calm sea")
    w = worker(gen, public_base_url="https://gv.example/")
    await w.run_once()
    assert suno.bodies[0]["callBackUrl"] == f"https://gv.example/webhooks/ai/suno?ref={job.id}-0"
    assert suno.bodies[0]["model"] == "V4_5"
    callback = {"code": 200, "msg": "ok", "data": {"callbackType": "first", "task_id": "t-1"}}
    raw = json.dumps(callback).encode()
    assert await receive(db, provider, {}, raw) is True
    assert await receive(db, provider, {}, raw) is False  # the same stage again
    with pytest.raises(WebhookRejected):
        await receive(db, provider, {}, b'{"data": {"callbackType": "evil", "task_id": "t-1"}}')
    await drain(w)
    done = await gen.get(ann.id, job.id)
    assert done.status == "succeeded"
    assert [(o.mime, o.duration) for o in done.outputs] == [
        ("audio/mpeg", 30.5),
        ("audio/mpeg", 29.0),
    ]
    assert await gen.media_of(ann.id, job.id, 1) == (MP3, "audio/mpeg")
    await assert_invariants(owner_url)


async def test_suno_429_is_out_of_credit_and_falls_back(
    db: Database, owner_url: str, tmp_path: Path, suno: FakeSuno
) -> None:
    suno.code = 429
    providers = {
        "suno": SunoProvider(suno.base, "suno_key", poll_seconds=0.01),
        "local": LocalProvider(0.0),
    }
    gen = generation(db, tmp_path, providers=providers, order=("suno", "local"))  # type: ignore[arg-type]
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="s", model="tune", prompt="x")
    await drain(worker(gen))
    assert (await gen.get(ann.id, job.id)).status == "succeeded"
    assert len(suno.bodies) == 1  # never retried as throttling
    async with db.service() as session:
        codes = (await session.execute(text("SELECT provider, error_code FROM ai.attempts"))).all()
    assert [tuple(c) for c in codes] == [("suno", "out_of_credit"), ("local", None)]
    await assert_invariants(owner_url)


class LostSunoAnswer(SunoProvider):
    """The submit reaches sunoapi.org, then the worker dies before recording the answer."""

    async def submit(self, request: JobRequest) -> Handle:
        await super().submit(request)
        raise RuntimeError("killed before the record")


async def test_a_suno_callback_binds_a_lost_submit_and_a_forged_one_binds_nothing(
    db: Database, owner_url: str, tmp_path: Path, suno: FakeSuno
) -> None:
    provider = LostSunoAnswer(suno.base, "suno_key", poll_seconds=0.01)
    gen = generation(db, tmp_path, providers={"suno": provider}, order=("suno",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="s", model="tune", prompt="calm sea")
    w = worker(gen, public_base_url="https://gv.example/", lease_seconds=0.05)
    await w.run_once()  # submitted, answer lost
    callback = {"code": 200, "msg": "ok", "data": {"callbackType": "text", "task_id": "t-1"}}
    assert await receive(db, provider, {}, json.dumps(callback).encode(), f"{job.id}-0")
    await drain(w)
    assert (await gen.get(ann.id, job.id)).status == "succeeded"
    assert len(suno.bodies) == 1  # bound and followed, never submitted again
    # A task read back for a handle bound with another reference is not ours.
    with pytest.raises(JobLost):
        await provider.status(Handle(id="t-1", state={"ref": "someone-else-0"}))
    await provider.close()
    await assert_invariants(owner_url)


@dataclass
class FakeMj:
    base: str = ""
    banned: bool = False
    reads: int = 0
    states: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/mj/submit/imagine", self.create)
        app.router.add_get("/mj/task/{id}/fetch", self.fetch)
        app.router.add_get("/img/{name}", self.file)
        return app

    async def create(self, request: web.Request) -> web.Response:
        assert request.headers["mj-api-secret"] == "mj_key"
        body = await request.json()
        assert body["prompt"].endswith("--ar 16:9")
        self.states.append(body["state"])
        return web.json_response({"code": 1, "description": "Submit success", "result": "17"})

    async def fetch(self, request: web.Request) -> web.Response:
        self.reads += 1
        task: dict[str, Any] = {"id": "17", "action": "IMAGINE", "prompt": "x"}
        if self.reads == 1:
            return web.json_response(task | {"status": "IN_PROGRESS", "progress": "42%"})
        if self.banned:
            return web.json_response(
                task | {"status": "FAILURE", "failReason": "Banned prompt detected"}
            )
        image = f"{self.base}/img/17.png"
        return web.json_response(
            task | {"status": "SUCCESS", "progress": "100%", "imageUrl": image}
        )

    async def file(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def mj() -> AsyncIterator[FakeMj]:
    fake = FakeMj()
    server, fake.base = await serve(fake.app())
    yield fake
    await server.close()


@pytest.mark.parametrize("banned", [False, True])
async def test_midjourney_proxy_progress_and_banned_prompts(
    db: Database, owner_url: str, tmp_path: Path, mj: FakeMj, banned: bool
) -> None:
    mj.banned = banned
    provider = MidjourneyProxyProvider(mj.base, "mj_key", poll_seconds=0.01)
    gen = generation(db, tmp_path, providers={"mj": provider}, order=("mj",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(
        user_id=ann.id,
        request_key="m",
        model="pic",
        prompt="a castle",
        params={"aspect_ratio": "16:9"},
    )
    await drain(worker(gen))
    done = await gen.get(ann.id, job.id)
    # Our submit reference goes out as `state` and comes back in the notifyHook.
    assert mj.states == [f"{job.id}-0"]
    hook = json.dumps({"id": "17", "status": "IN_PROGRESS", "state": mj.states[0]}).encode()
    assert provider.parse_webhook({}, hook).reference == mj.states[0]
    async with db.service() as session:
        progress = await session.scalar(
            text(
                "SELECT max((data->>'progress')::int) FILTER (WHERE data->>'status' = 'running')"
                " FROM ops.events WHERE type = 'generation'"
            )
        )
    assert progress == 42
    if banned:
        assert done.status == "failed" and done.error is not None
        assert done.error.code == "moderated"
        assert await available(db, ann.id) == 10 * PRICE
    else:
        assert done.status == "succeeded"
        assert await gen.media_of(ann.id, job.id, 0) == (PNG, "image/png")
    await assert_invariants(owner_url)
