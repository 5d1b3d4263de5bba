"""Runway and Veo (Gemini API) adapters against local servers speaking their protocols:
THROTTLED then RUNNING with progress then SUCCEEDED, SAFETY failures refunded, cancel by
DELETE; Veo's long-running operation, a retired model failing over, safety filtering."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import text

from db.database import Database
from integrations.ai.gemini import GeminiVeoProvider
from integrations.ai.local import LocalProvider
from integrations.ai.runway import VERSION, RunwayProvider
from services.generation.usecase import Generation
from tests.generation_helpers import PRICE, drain, generation, worker
from tests.invariants import assert_invariants
from tests.ledger_helpers import available, fund, make_user

MP4 = b"\x00\x00\x00\x18ftypmp42" + bytes(range(200))


async def serve(app: web.Application) -> tuple[TestServer, str]:
    server = TestServer(app)
    await server.start_server()
    return server, str(server.make_url("")).rstrip("/")


@dataclass
class FakeRunway:
    base: str = ""
    failure: str | None = None
    reads: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/text_to_video", self.create)
        app.router.add_get("/v1/tasks/{id}", self.get)
        app.router.add_delete("/v1/tasks/{id}", self.delete)
        app.router.add_get("/out/{name}", self.file)
        return app

    def check(self, request: web.Request) -> None:
        assert request.headers["Authorization"] == "Bearer rw_key"
        assert request.headers["X-Runway-Version"] == VERSION

    async def create(self, request: web.Request) -> web.Response:
        self.check(request)
        self.bodies.append(await request.json())
        return web.json_response({"id": f"task-{next(self.ids)}"})

    async def get(self, request: web.Request) -> web.Response:
        self.check(request)
        task = request.match_info["id"]
        n = self.reads[task] = self.reads.get(task, 0) + 1
        if n == 1:
            return web.json_response({"id": task, "status": "THROTTLED", "createdAt": "x"})
        if n == 2:
            return web.json_response({"id": task, "status": "RUNNING", "progress": 0.5})
        if self.failure:
            return web.json_response(
                {"id": task, "status": "FAILED", "failure": "no", "failureCode": self.failure}
            )
        return web.json_response(
            {"id": task, "status": "SUCCEEDED", "output": [f"{self.base}/out/{task}.mp4"]}
        )

    async def delete(self, request: web.Request) -> web.Response:
        self.check(request)
        self.deleted.append(request.match_info["id"])
        return web.Response(status=204)

    async def file(self, request: web.Request) -> web.Response:
        return web.Response(body=MP4, content_type="video/mp4")


@pytest.fixture
async def runway() -> AsyncIterator[FakeRunway]:
    fake = FakeRunway()
    server, fake.base = await serve(fake.app())
    yield fake
    await server.close()


def with_runway(db: Database, tmp: Path, fake: FakeRunway) -> Generation:
    provider = RunwayProvider(fake.base, "rw_key", poll_seconds=0.01)
    return generation(db, tmp, providers={"runway": provider}, order=("runway",))


async def progress_seen(db: Database) -> list[int]:
    async with db.service() as session:
        rows = await session.execute(
            text(
                "SELECT (data->>'progress')::int FROM ops.events"
                " WHERE type = 'generation' ORDER BY id"
            )
        )
        return [r[0] for r in rows.all()]


async def test_runway_video_with_throttling_and_progress(
    db: Database, owner_url: str, tmp_path: Path, runway: FakeRunway
) -> None:
    gen = with_runway(db, tmp_path, runway)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(
        user_id=ann.id, request_key="v", model="clip", prompt="waves", params={"duration": 6}
    )
    await drain(worker(gen))
    done = await gen.get(ann.id, job.id)
    assert done.status == "succeeded"
    assert runway.bodies == [
        {"model": "gen4.5", "promptText": "waves", "ratio": "1280:720", "duration": 6}
    ]
    assert 50 in await progress_seen(db)
    assert await gen.media_of(ann.id, job.id, 0) == (MP4, "video/mp4")
    await assert_invariants(owner_url)


async def test_runway_safety_failure_is_refunded_and_cancel_deletes(
    db: Database, owner_url: str, tmp_path: Path, runway: FakeRunway
) -> None:
    runway.failure = "SAFETY.INPUT.TEXT"
    gen = with_runway(db, tmp_path, runway)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="v", model="clip", prompt="bad")
    await drain(worker(gen))
    failed = await gen.get(ann.id, job.id)
    assert failed.status == "failed"
    assert failed.error is not None and failed.error.code == "moderated"
    assert "TEXT" not in failed.error.message  # the diagnostic segment stays ours
    second, _ = await gen.order(user_id=ann.id, request_key="w", model="clip", prompt="x")
    await worker(gen).run_once()
    await gen.cancel(ann.id, second.id)
    assert runway.deleted == ["task-2"]
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)


@dataclass
class FakeGemini:
    base: str = ""
    retired: bool = False
    filtered: bool = False
    polls: int = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1beta/models/{call}", self.create)
        app.router.add_get("/v1beta/models/{model}/operations/{id}", self.get)
        app.router.add_get("/files/{name}", self.file)
        return app

    async def create(self, request: web.Request) -> web.Response:
        assert request.headers["x-goog-api-key"] == "g_key"
        model, _, method = request.match_info["call"].partition(":")
        assert method == "predictLongRunning"
        if self.retired:
            return web.json_response(
                {"error": {"code": 404, "message": f"models/{model} is no longer available"}},
                status=404,
            )
        body = await request.json()
        assert body["instances"][0]["prompt"] and body["parameters"]["aspectRatio"] == "16:9"
        return web.json_response({"name": f"models/{model}/operations/op1"})

    async def get(self, request: web.Request) -> web.Response:
        assert request.headers["x-goog-api-key"] == "g_key"
        self.polls += 1
        name = f"models/{request.match_info['model']}/operations/{request.match_info['id']}"
        if self.polls == 1:
            return web.json_response({"name": name})
        if self.filtered:
            result: dict[str, Any] = {
                "raiMediaFilteredCount": 1,
                "raiMediaFilteredReasons": ["x"],
            }
        else:
            uri = f"{self.base}/files/video.mp4"
            result = {"generatedSamples": [{"video": {"uri": uri}}]}
        return web.json_response(
            {"name": name, "done": True, "response": {"generateVideoResponse": result}}
        )

    async def file(self, request: web.Request) -> web.Response:
        if request.headers.get("x-goog-api-key") != "g_key":
            return web.Response(status=403)
        return web.Response(body=MP4, content_type="video/mp4")


@pytest.fixture
async def gemini() -> AsyncIterator[FakeGemini]:
    fake = FakeGemini()
    server, fake.base = await serve(fake.app())
    yield fake
    await server.close()


def with_gemini(db: Database, tmp: Path, fake: FakeGemini) -> Generation:
    provider = GeminiVeoProvider(fake.base, "g_key", poll_seconds=0.01)
    providers = {"gemini": provider, "local": LocalProvider(0.0)}
    return generation(db, tmp, providers=providers, order=("gemini", "local"))  # type: ignore[arg-type]


@pytest.mark.parametrize("case", ["ok", "retired", "filtered"])
async def test_veo_operation_retired_model_and_safety(
    db: Database, owner_url: str, tmp_path: Path, gemini: FakeGemini, case: str
) -> None:
    gemini.retired, gemini.filtered = case == "retired", case == "filtered"
    gen = with_gemini(db, tmp_path, gemini)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="g", model="clip", prompt="a comet")
    await drain(worker(gen))
    done = await gen.get(ann.id, job.id)
    async with db.service() as session:
        attempts = (
            await session.execute(text("SELECT provider, outcome, error_code FROM ai.attempts"))
        ).all()
    if case == "ok":
        assert done.status == "succeeded"
        assert await gen.media_of(ann.id, job.id, 0) == (MP4, "video/mp4")
    elif case == "retired":
        assert done.status == "succeeded"  # made by the next provider
        assert [tuple(a) for a in attempts] == [
            ("gemini", "fallback", "model_retired"),
            ("local", "succeeded", None),
        ]
    else:
        assert done.status == "failed" and done.error is not None
        assert done.error.code == "moderated"
        assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)
