"""Black Forest Labs (Flux): `x-key`, submit → `{id, polling_url}`, poll that URL, download.

The key goes only to the configured base's host and BFL's own hosts: a `polling_url` naming
any other host is refused, so a forged answer cannot collect the key. Statuses: Pending,
Ready (`result.sample`, an URL that expires in 10 minutes), Error, Task not found, Request /
Content Moderated. 402 is out of credit (fall back); the body is read on non-2xx too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from integrations.ai.http import KeyedClient, classify, download, request_json
from services.generation.providers import (
    Handle,
    JobLost,
    JobRequest,
    JobStatus,
    Moderated,
    Output,
    Retryable,
    WebhookEvent,
    WebhookRejected,
)

BFL_HOSTS = frozenset(
    {"api.bfl.ai", "api.eu.bfl.ai", "api.us.bfl.ai", "api.eu1.bfl.ai", "api.us1.bfl.ai"}
)
_SIZES = {"1:1": "1:1", "16:9": "16:9", "9:16": "9:16", "4:3": "4:3", "3:4": "3:4"}


class BflProvider(KeyedClient):
    name = "bfl"
    webhooks = False

    default_poll_seconds = 1.5

    @cached_property
    def _hosts(self) -> frozenset[str]:
        """Where a result may be downloaded from: BFL's delivery hosts and our own base."""
        return frozenset(BFL_HOSTS | {urlsplit(self.base).netloc})

    async def submit(self, request: JobRequest) -> Handle:
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "aspect_ratio": _SIZES.get(str(request.params.get("aspect_ratio")), "1:1"),
            "output_format": "png",
        }
        if request.params.get("seed") is not None:
            body["seed"] = request.params["seed"]
        endpoint = request.target or "flux-pro-1.1"
        status, answer = await request_json(
            self._http(), "POST", f"{self.base}/v1/{endpoint}", json=body, headers=self._auth()
        )
        if status != 200 or not isinstance(answer, dict) or "id" not in answer:
            raise classify(status, answer)
        polling = str(answer.get("polling_url") or f"{self.base}/v1/get_result?id={answer['id']}")
        return Handle(id=str(answer["id"]), state={"polling_url": polling})

    async def status(self, handle: Handle) -> JobStatus:
        url = str(handle.state.get("polling_url"))
        parts = urlsplit(url)
        if parts.netloc not in self._hosts or parts.scheme not in ("https", "http"):
            raise JobLost(f"polling_url on an unknown host: {parts.netloc}")
        code, answer = await request_json(self._http(), "GET", url, headers=self._auth())
        # Terminal statuses arrive with non-2xx codes too: the body decides when it has one.
        state = answer.get("status") if isinstance(answer, dict) else None
        if state is None:
            raise classify(code, answer)
        if state == "Ready":
            sample = (answer.get("result") or {}).get("sample")
            if not sample:
                raise JobLost("Ready without a sample")
            return JobStatus(
                state="succeeded", progress=100, outputs=(Output("image/png", url=sample),)
            )
        if state == "Pending":
            return JobStatus(state="running", progress=_progress(answer.get("progress")))
        if state in ("Request Moderated", "Content Moderated"):
            raise Moderated(state)
        if state == "Task not found":
            raise JobLost(state)
        if state == "Error":
            raise JobLost("the provider failed the job")
        raise Retryable(f"unknown status {state!r}")

    async def cancel(self, handle: Handle) -> None:
        return None  # BFL has no cancel; the job is refunded on our side all the same

    async def download(self, output: Output) -> bytes:
        assert output.url is not None
        return await download(self._http(), output.url)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        raise WebhookRejected("BFL jobs are polled")

    def _auth(self) -> dict[str, str]:
        return {"x-key": self._key, "accept": "application/json"}


def _progress(reported: object) -> int:
    """BFL's progress, a fraction or a percentage (a number, or a string such as "50%"); any
    other value reads as none: it only feeds a progress bar."""
    text = str(reported).strip() if isinstance(reported, int | float | str) else ""
    percent = text.endswith("%")
    try:
        value = float(text.removesuffix("%"))
    except ValueError:
        return 0
    if not math.isfinite(value) or value < 0:
        return 0
    return min(99, int(value if percent or value > 1 else value * 100))
