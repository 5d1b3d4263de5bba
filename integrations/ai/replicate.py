"""Replicate: predictions API (Bearer), `POST /v1/models/{owner}/{name}/predictions`,
`GET /v1/predictions/{id}`, `POST …/cancel`; statuses starting, processing, succeeded, failed,
canceled, aborted. Webhooks are Standard Webhooks, verified with `standardwebhooks` (stale
timestamps and forged signatures refused); `webhook-id` is the dedup key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from integrations.ai.http import HttpClient, classify, download, request_json
from services.generation.providers import (
    Handle,
    JobLost,
    JobRequest,
    JobStatus,
    Moderated,
    Output,
    WebhookEvent,
    WebhookRejected,
)

_MIME = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}
_MIME |= {"mp4": "video/mp4", "mp3": "audio/mpeg", "wav": "audio/wav"}


class ReplicateProvider(HttpClient):
    name = "replicate"

    def __init__(
        self,
        base: str,
        token: str,
        *,
        webhook_secret: str | None = None,
        poll_seconds: float = 2.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.poll_seconds = poll_seconds
        self._token = token
        self._hook = Webhook(webhook_secret) if webhook_secret else None
        self.webhooks = self._hook is not None
        self._session = session

    async def submit(self, request: JobRequest) -> Handle:
        body: dict[str, Any] = {"input": {"prompt": request.prompt, **_inputs(request)}}
        if request.webhook_url and self.webhooks:
            body["webhook"] = request.webhook_url
            body["webhook_events_filter"] = ["start", "completed"]
        url = f"{self.base}/v1/models/{request.target}/predictions"
        status, answer = await request_json(
            self._http(), "POST", url, json=body, headers=self._auth()
        )
        if status not in (200, 201, 202) or not isinstance(answer, dict) or "id" not in answer:
            raise classify(status, answer)
        return Handle(id=str(answer["id"]))

    async def status(self, handle: Handle) -> JobStatus:
        url = f"{self.base}/v1/predictions/{handle.id}"
        code, answer = await request_json(self._http(), "GET", url, headers=self._auth())
        if code != 200 or not isinstance(answer, dict):
            if code == 404:
                raise JobLost("prediction not found")
            raise classify(code, answer)
        state = answer.get("status")
        if state == "succeeded":
            output = answer.get("output")
            urls = [output] if isinstance(output, str) else list(output or [])
            if not urls:
                raise JobLost("succeeded without output")
            return JobStatus(
                state="succeeded",
                progress=100,
                outputs=tuple(Output(_mime_of(str(u)), url=str(u)) for u in urls),
            )
        if state in ("starting", "processing"):
            return JobStatus(state="queued" if state == "starting" else "running", progress=0)
        error = str(answer.get("error") or state)
        if state == "failed" and ("NSFW" in error or "safety" in error.lower()):
            raise Moderated(error[:200])
        raise JobLost(f"prediction {state}: {error[:200]}")

    async def cancel(self, handle: Handle) -> None:
        url = f"{self.base}/v1/predictions/{handle.id}/cancel"
        await request_json(self._http(), "POST", url, headers=self._auth())

    async def download(self, output: Output) -> bytes:
        assert output.url is not None
        return await download(self._http(), output.url)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        if self._hook is None:
            raise WebhookRejected("no webhook secret configured")
        wanted = ("webhook-id", "webhook-timestamp", "webhook-signature")
        lowered = {k.lower(): v for k, v in headers.items() if k.lower() in wanted}
        try:
            self._hook.verify(body, lowered)
            payload = json.loads(body)
        except (WebhookVerificationError, ValueError) as exc:
            raise WebhookRejected(str(exc)) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("id"), str):
            raise WebhookRejected("not a prediction")
        return WebhookEvent(delivery_id=lowered["webhook-id"], job_id=payload["id"])

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


def _inputs(request: JobRequest) -> dict[str, Any]:
    params = request.params
    if request.kind == "video":
        return {"duration": params.get("duration", 4), "aspect_ratio": params.get("aspect_ratio")}
    return {"aspect_ratio": params.get("aspect_ratio", "1:1"), "output_format": "png"}


def _mime_of(url: str) -> str:
    return _MIME.get(url.rsplit(".", 1)[-1].lower(), "application/octet-stream")
