"""Google Veo through the Gemini API's long-running operations:
`POST /v1beta/models/{model}:predictLongRunning` (`x-goog-api-key`) → `{name}`, poll
`GET /v1beta/{name}` until `done`; `error` is a google.rpc.Status, success has
`response.generateVideoResponse.generatedSamples[].video.uri` (downloaded with the same key,
only from the API's host). Safety filtering is `raiMediaFilteredCount` with no samples. A 404
on submit is a retired model: this provider cannot make it, the next one may."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from integrations.ai.http import KeyedClient, classify, download, request_json
from services.generation.providers import (
    Handle,
    InvalidInput,
    JobLost,
    JobRequest,
    JobStatus,
    ModelRetired,
    Moderated,
    Output,
    WebhookEvent,
    WebhookRejected,
)


class GeminiVeoProvider(KeyedClient):
    name = "gemini"
    webhooks = False

    default_poll_seconds = 10.0

    async def submit(self, request: JobRequest) -> Handle:
        model = request.target or "veo-3.1-generate-001"
        body: dict[str, Any] = {
            "instances": [{"prompt": request.prompt}],
            "parameters": {
                "aspectRatio": "9:16" if request.params.get("aspect_ratio") == "9:16" else "16:9",
                "durationSeconds": int(request.params.get("duration", 8)),
            },
        }
        url = f"{self.base}/v1beta/models/{model}:predictLongRunning"
        status, answer = await request_json(
            self._http(), "POST", url, json=body, headers=self._auth()
        )
        if status == 404:
            raise ModelRetired(f"{model} is no longer available")
        if status != 200 or not isinstance(answer, dict) or "name" not in answer:
            raise classify(status, answer)
        return Handle(id=str(answer["name"]))

    async def status(self, handle: Handle) -> JobStatus:
        code, operation = await request_json(
            self._http(), "GET", f"{self.base}/v1beta/{handle.id}", headers=self._auth()
        )
        if code == 404:
            raise JobLost("operation not found")
        if code != 200 or not isinstance(operation, dict):
            raise classify(code, operation)
        if not operation.get("done"):
            return JobStatus(state="running")
        error = operation.get("error")
        if isinstance(error, dict):
            if error.get("code") == 3:  # INVALID_ARGUMENT
                raise InvalidInput(str(error.get("message", ""))[:200])
            raise JobLost(f"operation failed: {str(error.get('message', ''))[:200]}")
        result = (operation.get("response") or {}).get("generateVideoResponse") or {}
        samples = result.get("generatedSamples") or []
        uris = [s["video"]["uri"] for s in samples if isinstance(s, dict) and s.get("video")]
        if not uris:
            if result.get("raiMediaFilteredCount"):
                raise Moderated("filtered by the provider's safety rules")
            raise JobLost("done without samples")
        return JobStatus(
            state="succeeded",
            progress=100,
            outputs=tuple(Output("video/mp4", url=str(u)) for u in uris),
        )

    async def cancel(self, handle: Handle) -> None:
        return None  # the Gemini API has no cancel for these operations

    async def download(self, output: Output) -> bytes:
        assert output.url is not None
        own = urlsplit(output.url).netloc == urlsplit(self.base).netloc
        return await download(self._http(), output.url, self._auth() if own else None)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookRejected("Veo operations are polled")

    def _auth(self) -> dict[str, str]:
        return {"x-goog-api-key": self._key}
