"""Provider adapters against local servers speaking BFL's and Replicate's documented
protocols, driven through the real worker: retries on 429 Retry-After, fallback on out of
credit, the circuit opening and closing, moderation and expired results refunded, and
Replicate's Standard Webhooks (forged, stale and duplicate deliveries)."""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from db.database import Database
from integrations.ai.bfl import BflProvider
from integrations.ai.local import LocalProvider, draw_image
from integrations.ai.replicate import ReplicateProvider
from services.generation.providers import Handle, JobRequest, WebhookRejected
from services.generation.webhooks import receive
from services.ledger.service import system_account
from tests.generation_helpers import PRICE, drain, generation, worker
from tests.invariants import assert_invariants
from tests.ledger_helpers import account, available, fund, make_user

KEY = "bfl_test_key"
PNG = draw_image("fake provider", "1:1").data or b""


@dataclass
class FakeBfl:
    """`submit`: a list of answers to give in turn ("ok", "402", "429", "500", "drop"), then
    "ok".
    `result`: "ready", "moderated" or "error"; `files`: "ok" or "expired"."""

    submit: list[str] = field(default_factory=list)
    result: str = "ready"
    files: str = "ok"
    polls: dict[str, int] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    base: str = ""
    ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/{endpoint}", self.create)
        app.router.add_get("/v1/get_result", self.get_result)
        app.router.add_get("/files/{name}", self.file)
        return app

    async def create(self, request: web.Request) -> web.Response:
        self.calls.append("submit")
        if request.headers.get("x-key") != KEY:
            return web.json_response({"detail": "Not authenticated"}, status=401)
        body = await request.json()
        assert body["prompt"] and request.match_info["endpoint"] == "flux-pro-1.1"
        answer = self.submit.pop(0) if self.submit else "ok"
        if answer == "402":
            return web.json_response({"detail": "Insufficient credits"}, status=402)
        if answer == "429":
            return web.json_response(
                {"detail": "Too many requests"}, status=429, headers={"Retry-After": "0"}
            )
        if answer == "500":
            return web.json_response({"detail": "Internal error"}, status=500)
        if answer == "drop":
            # Taken, then the connection drops before the answer: the job exists here.
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        job = f"task-{next(self.ids)}"
        return web.json_response({"id": job, "polling_url": f"{self.base}/v1/get_result?id={job}"})

    async def get_result(self, request: web.Request) -> web.Response:
        assert request.headers.get("x-key") == KEY
        job = request.query["id"]
        self.polls[job] = self.polls.get(job, 0) + 1
        if self.polls[job] == 1:
            return web.json_response({"id": job, "status": "Pending", "progress": 0.4})
        if self.result == "moderated":
            # Terminal statuses can come with a non-2xx code: the body decides.
            return web.json_response({"id": job, "status": "Content Moderated"}, status=503)
        if self.result == "error":
            return web.json_response({"id": job, "status": "Error"})
        sample = f"{self.base}/files/{job}.png"
        return web.json_response({"id": job, "status": "Ready", "result": {"sample": sample}})

    async def file(self, request: web.Request) -> web.Response:
        if self.files == "expired":
            return web.Response(status=403, text="AuthenticationFailed")
        return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def bfl() -> AsyncIterator[FakeBfl]:
    fake = FakeBfl()
    server = TestServer(fake.app())
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


def setup(db: Database, tmp: Path, fake: FakeBfl) -> Any:
    providers = {"bfl": BflProvider(fake.base, KEY, poll_seconds=0.01), "local": LocalProvider(0.0)}
    return generation(db, tmp, providers=providers, order=("bfl", "local"))


async def attempts(db: Database) -> list[tuple[str, str, str | None]]:
    async with db.service() as session:
        rows = await session.execute(
            text("SELECT provider, outcome, error_code FROM ai.attempts ORDER BY id")
        )
        return [tuple(r) for r in rows.all()]  # type: ignore[misc]


async def test_bfl_job_after_a_429_with_retry_after(
    db: Database, owner_url: str, tmp_path: Path, bfl: FakeBfl
) -> None:
    bfl.submit = ["429"]
    gen = setup(db, tmp_path, bfl)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="a fox")
    await drain(worker(gen))
    done = await gen.get(ann.id, job.id)
    assert done.status == "succeeded"
    assert bfl.calls == ["submit", "submit"]
    data, mime = await gen.media_of(ann.id, job.id, 0)
    assert (data, mime) == (PNG, "image/png")
    assert await attempts(db) == [("bfl", "succeeded", None)]
    assert await available(db, ann.id) == 9 * PRICE
    await assert_invariants(owner_url)


async def test_a_submit_whose_answer_was_lost_is_never_repeated_blind(
    db: Database, owner_url: str, tmp_path: Path, bfl: FakeBfl
) -> None:
    bfl.submit = ["drop"]
    gen = setup(db, tmp_path, bfl)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="a fox")
    await drain(worker(gen))
    assert (await gen.get(ann.id, job.id)).status == "succeeded"
    # BFL may have the job and cannot be asked by our reference: not submitted again, the
    # next provider made it, and the unknown one is on record.
    assert bfl.calls == ["submit"]
    assert [a[:2] for a in await attempts(db)] == [
        ("bfl", "retry"),
        ("bfl", "unknown"),
        ("local", "succeeded"),
    ]
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == PRICE
    await assert_invariants(owner_url)


async def test_out_of_credit_falls_back_to_the_next_provider(
    db: Database, owner_url: str, tmp_path: Path, bfl: FakeBfl
) -> None:
    bfl.submit = ["402"]
    gen = setup(db, tmp_path, bfl)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="a fox")
    await drain(worker(gen))
    assert (await gen.get(ann.id, job.id)).status == "succeeded"
    assert await attempts(db) == [
        ("bfl", "fallback", "out_of_credit"),
        ("local", "succeeded", None),
    ]
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == PRICE
    await assert_invariants(owner_url)


async def test_a_job_the_provider_fails_twice_goes_to_the_next_provider(
    db: Database, owner_url: str, tmp_path: Path, bfl: FakeBfl
) -> None:
    bfl.result = "error"
    gen = setup(db, tmp_path, bfl)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="a fox")
    await drain(worker(gen))
    assert (await gen.get(ann.id, job.id)).status == "succeeded"
    assert bfl.calls == ["submit", "submit"]
    assert [a[:2] for a in await attempts(db)] == [
        ("bfl", "fallback"),
        ("bfl", "fallback"),
        ("local", "succeeded"),
    ]
    await assert_invariants(owner_url)


@pytest.mark.parametrize(
    ("result", "files", "code"),
    [("moderated", "ok", "moderated"), ("ready", "expired", "output_expired")],
)
async def test_moderation_and_expired_results_are_refunded(
    db: Database,
    owner_url: str,
    tmp_path: Path,
    bfl: FakeBfl,
    result: str,
    files: str,
    code: str,
) -> None:
    bfl.result, bfl.files = result, files
    gen = setup(db, tmp_path, bfl)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="a fox")
    w = worker(gen, max_tries=2)
    await drain(w, rounds=400)
    done = await gen.get(ann.id, job.id)
    assert done.status == "failed"
    assert done.error is not None and done.error.code == code
    assert await available(db, ann.id) == 10 * PRICE
    assert (await account(db, system_account("ai_spend")))["credits_posted"] == 0
    await assert_invariants(owner_url)


async def test_the_circuit_opens_on_failures_then_closes(
    db: Database, owner_url: str, tmp_path: Path, bfl: FakeBfl
) -> None:
    bfl.submit = ["500", "500"]
    gen = setup(db, tmp_path, bfl)
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    w = worker(gen, call_attempts=1, breaker_threshold=2, breaker_ttl=0.3)
    first, _ = await gen.order(user_id=ann.id, request_key="a", model="pic", prompt="one")
    for _ in range(3):  # two failures open the circuit; the third step skips bfl
        await w.run_once()
        async with db.service() as session:
            await session.execute(text("UPDATE ai.jobs SET next_step_at = now()"))
    await drain(w)
    assert (await gen.get(ann.id, first.id)).status == "succeeded"
    assert bfl.calls == ["submit", "submit"]
    assert [a[0] for a in await attempts(db)] == ["bfl", "bfl", "local"]
    # After its ttl the circuit lets a request through (half open), and success closes it.
    await asyncio.sleep(0.35)
    second, _ = await gen.order(user_id=ann.id, request_key="b", model="pic", prompt="two")
    await drain(w)
    assert (await gen.get(ann.id, second.id)).status == "succeeded"
    assert (await attempts(db))[-1][:2] == ("bfl", "succeeded")
    await assert_invariants(owner_url)


# --- Replicate -----------------------------------------------------------------------------

SECRET = "whsec_" + base64.b64encode(b"replicate-test-secret-32-bytes!!").decode()


@dataclass
class FakeReplicate:
    base: str = ""
    predictions: dict[str, int] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/models/{owner}/{name}/predictions", self.create)
        app.router.add_get("/v1/predictions/{id}", self.get)
        app.router.add_post("/v1/predictions/{id}/cancel", self.cancel)
        app.router.add_get("/delivery/{name}", self.file)
        return app

    def prediction(self, pid: str, status: str) -> dict[str, Any]:
        done = status == "succeeded"
        return {
            "id": pid,
            "model": "black-forest-labs/flux-1.1-pro",
            "version": "hidden",
            "status": status,
            "output": f"{self.base}/delivery/{pid}.png" if done else None,
            "error": None,
            "urls": {"get": f"{self.base}/v1/predictions/{pid}", "cancel": "", "web": ""},
        }

    async def create(self, request: web.Request) -> web.Response:
        assert request.headers["Authorization"] == "Bearer r8_test"
        self.bodies.append(await request.json())
        pid = f"p{len(self.predictions) + 1}"
        self.predictions[pid] = 0
        return web.json_response(self.prediction(pid, "starting"), status=201)

    async def get(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        self.predictions[pid] += 1
        status = "processing" if self.predictions[pid] < 2 else "succeeded"
        return web.json_response(self.prediction(pid, status))

    async def cancel(self, request: web.Request) -> web.Response:
        self.cancelled.append(request.match_info["id"])
        return web.json_response(self.prediction(request.match_info["id"], "canceled"))

    async def file(self, request: web.Request) -> web.Response:
        return web.Response(body=PNG, content_type="image/png")


@pytest.fixture
async def replicate() -> AsyncIterator[FakeReplicate]:
    fake = FakeReplicate()
    server = TestServer(fake.app())
    await server.start_server()
    fake.base = str(server.make_url("")).rstrip("/")
    yield fake
    await server.close()


def signed(body: bytes, delivery: str, when: float | None = None) -> dict[str, str]:
    from datetime import UTC, datetime

    stamp = datetime.fromtimestamp(when if when is not None else time.time(), tz=UTC)
    signature = Webhook(SECRET).sign(delivery, stamp, body.decode())
    return {
        "webhook-id": delivery,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature,
    }


async def test_replicate_job_with_webhooks(
    db: Database, owner_url: str, tmp_path: Path, replicate: FakeReplicate
) -> None:
    provider = ReplicateProvider(
        replicate.base, "r8_test", webhook_secret=SECRET, poll_seconds=0.01
    )
    gen = generation(db, tmp_path, providers={"replicate": provider}, order=("replicate",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="r", model="pic", prompt="a fox")
    w = worker(gen, public_base_url="https://gv.example")
    await w.run_once()  # submitted
    [sent] = replicate.bodies
    # Our submit reference rides in the callback URL (it binds a submit a crash cut off).
    assert sent["webhook"] == f"https://gv.example/webhooks/ai/replicate?ref={job.id}-0"
    assert sent["input"]["prompt"] == "a fox"
    body = json.dumps(replicate.prediction("p1", "succeeded")).encode()
    # Forged, stale and replayed deliveries change nothing.
    forged = signed(body, "msg_1") | {"webhook-signature": "v1,AAAA"}
    with pytest.raises(WebhookRejected):
        await receive(db, provider, forged, body)
    with pytest.raises(WebhookRejected):
        await receive(db, provider, signed(body, "msg_1", time.time() - 3600), body)
    assert await receive(db, provider, signed(body, "msg_1"), body) is True
    assert await receive(db, provider, signed(body, "msg_1"), body) is False
    await drain(w)
    done = await gen.get(ann.id, job.id)
    assert done.status == "succeeded"
    assert (await gen.media_of(ann.id, job.id, 0))[0] == PNG
    await assert_invariants(owner_url)


class LostAnswer(ReplicateProvider):
    """The submit reaches Replicate, then the worker dies before recording the answer."""

    async def submit(self, request: JobRequest) -> Handle:
        await super().submit(request)
        raise RuntimeError("killed before the record")


async def test_a_callback_binds_a_submit_whose_answer_was_lost(
    db: Database, owner_url: str, tmp_path: Path, replicate: FakeReplicate
) -> None:
    provider = LostAnswer(replicate.base, "r8_test", webhook_secret=SECRET, poll_seconds=0.01)
    gen = generation(db, tmp_path, providers={"replicate": provider}, order=("replicate",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="r", model="pic", prompt="a fox")
    w = worker(gen, public_base_url="https://gv.example", lease_seconds=0.05)
    await w.run_once()  # submitted, answer lost
    await asyncio.sleep(0.1)
    await drain(w, rounds=5)  # within the grace: waits for a callback, submits nothing
    assert len(replicate.bodies) == 1
    body = json.dumps(replicate.prediction("p1", "processing")).encode()
    # A callback with another reference binds nothing.
    assert await receive(db, provider, signed(body, "msg_0"), body, "other-0") is True
    assert (await gen.get(ann.id, job.id)).status == "queued"
    assert await receive(db, provider, signed(body, "msg_1"), body, f"{job.id}-0") is True
    await drain(w)
    done = await gen.get(ann.id, job.id)
    assert done.status == "succeeded"
    assert len(replicate.bodies) == 1  # followed, never submitted again
    assert await available(db, ann.id) == 9 * PRICE
    await assert_invariants(owner_url)


async def test_cancel_reaches_replicate(
    db: Database, owner_url: str, tmp_path: Path, replicate: FakeReplicate
) -> None:
    provider = ReplicateProvider(replicate.base, "r8_test", poll_seconds=0.01)
    gen = generation(db, tmp_path, providers={"replicate": provider}, order=("replicate",))
    ann = await make_user(db)
    await fund(db, ann.id, 10 * PRICE)
    job, _ = await gen.order(user_id=ann.id, request_key="r", model="pic", prompt="a fox")
    await worker(gen).run_once()
    await gen.cancel(ann.id, job.id)
    assert replicate.cancelled == ["p1"]
    assert await available(db, ann.id) == 10 * PRICE
    await assert_invariants(owner_url)
