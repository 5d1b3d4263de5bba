"""Runway: Bearer + `X-Runway-Version`, `POST /v1/text_to_video` or `/v1/text_to_image` →
`{id}`, `GET /v1/tasks/{id}` (PENDING, THROTTLED, RUNNING with progress 0–1, SUCCEEDED with
`output: [url]`, FAILED with `failureCode`, CANCELLED), `DELETE /v1/tasks/{id}` cancels. No
webhooks. `SAFETY.*` failures are final (moderation), `INTERNAL*` are submitted again,
`ASSET.INVALID` is bad input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integrations.ai.http import KeyedClient, classify, download, request_json
from services.generation.providers import (
    Handle,
    InvalidInput,
    JobLost,
    JobRequest,
    JobStatus,
    Moderated,
    Output,
    WebhookEvent,
    WebhookRejected,
)

VERSION = "2024-11-06"
_VIDEO_RATIOS = {"16:9": "1280:720", "9:16": "720:1280", "1:1": "960:960"}
_IMAGE_RATIOS = {"16:9": "1920:1080", "9:16": "1080:1920", "1:1": "1024:1024"}


class RunwayProvider(KeyedClient):
    name = "runway"
    webhooks = False

    default_poll_seconds = 6.0

    async def submit(self, request: JobRequest) -> Handle:
        ratio = str(request.params.get("aspect_ratio", "16:9"))
        body: dict[str, Any] = {"model": request.target or "gen4.5", "promptText": request.prompt}
        if request.kind == "video":
            path = "text_to_video"
            body |= {"ratio": _VIDEO_RATIOS.get(ratio, "1280:720")}
            body["duration"] = int(request.params.get("duration", 4))
        else:
            path = "text_to_image"
            body |= {"ratio": _IMAGE_RATIOS.get(ratio, "1024:1024")}
        status, answer = await request_json(
            self._http(), "POST", f"{self.base}/v1/{path}", json=body, headers=self._auth()
        )
        if status not in (200, 201) or not isinstance(answer, dict) or "id" not in answer:
            raise classify(status, answer)
        return Handle(id=str(answer["id"]), state={"kind": request.kind})

    async def status(self, handle: Handle) -> JobStatus:
        url = f"{self.base}/v1/tasks/{handle.id}"
        code, task = await request_json(self._http(), "GET", url, headers=self._auth())
        if code == 404:
            raise JobLost("task not found")
        if code != 200 or not isinstance(task, dict):
            raise classify(code, task)
        state = task.get("status")
        if state in ("PENDING", "THROTTLED"):
            return JobStatus(state="queued")
        if state == "RUNNING":
            progress = float(task.get("progress") or 0)
            return JobStatus(state="running", progress=min(99, int(progress * 100)))
        if state == "SUCCEEDED":
            urls = task.get("output") or []
            if not urls:
                raise JobLost("succeeded without output")
            mime = "video/mp4" if handle.state.get("kind") == "video" else "image/png"
            return JobStatus(
                state="succeeded",
                progress=100,
                outputs=tuple(Output(mime, url=str(u)) for u in urls),
            )
        failure = str(task.get("failureCode") or "")
        if failure.startswith("SAFETY."):
            raise Moderated(failure.rsplit(".", 1)[0])  # the last segment is not for users
        if failure.startswith("ASSET.INVALID"):
            raise InvalidInput(failure)
        raise JobLost(f"task {state}: {failure or task.get('failure', '')}")

    async def cancel(self, handle: Handle) -> None:
        url = f"{self.base}/v1/tasks/{handle.id}"
        await request_json(self._http(), "DELETE", url, headers=self._auth())

    async def download(self, output: Output) -> bytes:
        assert output.url is not None
        return await download(self._http(), output.url)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookRejected("Runway tasks are polled")

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}", "X-Runway-Version": VERSION}
