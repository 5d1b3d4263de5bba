"""Suno through sunoapi.org: Bearer, `POST /api/v1/generate` → `{code, msg, data:{taskId}}`
(HTTP 200 even for logical errors: `code` decides; 429 is out of credit, not throttling;
405 and 430 are rate limits), `GET /api/v1/generate/record-info?taskId=` (PENDING,
TEXT_SUCCESS, FIRST_SUCCESS, SUCCESS with `response.sunoData[].audioUrl`; SENSITIVE_WORD_ERROR
and *_FAILED). Callbacks (text / first / complete / error) carry no signature: a callback only
makes the job's next status read due, so a forged one can do no more than that read."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from integrations.ai.http import KeyedClient, classify, download, request_json
from services.generation.providers import (
    Handle,
    InvalidInput,
    JobLost,
    JobRequest,
    JobStatus,
    Moderated,
    OutOfCredit,
    Output,
    ProviderError,
    Retryable,
    Unavailable,
    WebhookEvent,
    WebhookRejected,
)

_PROGRESS = {"PENDING": 0, "TEXT_SUCCESS": 33, "FIRST_SUCCESS": 66}
_CALLBACKS = frozenset({"text", "first", "complete", "error"})


def _code_error(code: int, message: str) -> ProviderError:
    if code == 429:
        return OutOfCredit("insufficient credits")
    if code in (405, 430, 455, 500):
        return Retryable(f"code {code}: {message}")
    if code == 401:
        return Unavailable("bad key")
    return InvalidInput(f"code {code}: {message}")


class SunoProvider(KeyedClient):
    name = "suno"
    webhooks = True

    default_poll_seconds = 5.0

    async def submit(self, request: JobRequest) -> Handle:
        body: dict[str, Any] = {
            "customMode": False,
            "instrumental": bool(request.params.get("instrumental", True)),
            "model": request.target or "V4_5",
            "prompt": request.prompt[:500],
        }
        if request.webhook_url:
            body["callBackUrl"] = request.webhook_url
        status, answer = await request_json(
            self._http(), "POST", f"{self.base}/api/v1/generate", json=body, headers=self._auth()
        )
        if status != 200 or not isinstance(answer, dict):
            raise classify(status, answer)
        if answer.get("code") != 200:
            raise _code_error(int(answer.get("code") or 0), str(answer.get("msg", "")))
        task = (answer.get("data") or {}).get("taskId")
        if not task:
            raise JobLost("no taskId")
        return Handle(id=str(task))

    async def status(self, handle: Handle) -> JobStatus:
        url = f"{self.base}/api/v1/generate/record-info"
        code, answer = await request_json(
            self._http(), "GET", url, params={"taskId": handle.id}, headers=self._auth()
        )
        if code != 200 or not isinstance(answer, dict):
            raise classify(code, answer)
        if answer.get("code") != 200:
            raise _code_error(int(answer.get("code") or 0), str(answer.get("msg", "")))
        data = answer.get("data") or {}
        # A task bound by an (unsigned) callback must carry the reference we submitted with.
        ref = handle.state.get("ref")
        if ref is not None and not _carries(data.get("param"), str(ref)):
            raise JobLost("the task is not the one we submitted")
        state = str(data.get("status"))
        if state in _PROGRESS:
            return JobStatus(state="running", progress=_PROGRESS[state])
        if state == "SUCCESS":
            tracks = (data.get("response") or {}).get("sunoData") or []
            urls = [t["audioUrl"] for t in tracks if isinstance(t, dict) and t.get("audioUrl")]
            if not urls:
                raise JobLost("SUCCESS without audio")
            outputs = tuple(
                Output("audio/mpeg", url=str(u), duration=_duration(t))
                for u, t in zip(urls, tracks, strict=False)
            )
            return JobStatus(state="succeeded", progress=100, outputs=outputs)
        if state == "SENSITIVE_WORD_ERROR":
            raise Moderated(state)
        raise JobLost(f"{state}: {data.get('errorMessage') or ''}"[:200])

    async def cancel(self, handle: Handle) -> None:
        return None  # sunoapi.org has no cancel

    async def download(self, output: Output) -> bytes:
        assert output.url is not None
        return await download(self._http(), output.url)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        try:
            payload = json.loads(body)
            data = payload["data"]
            kind, task = data["callbackType"], data["task_id"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("not a sunoapi.org callback") from exc
        # A JSON list or object is no callback type (and no set member: unhashable).
        if not isinstance(kind, str) or kind not in _CALLBACKS:
            raise WebhookRejected("unknown callback")
        if not isinstance(task, str) or not task:
            raise WebhookRejected("a callback without a task id")
        return WebhookEvent(delivery_id=f"{task}:{kind}", job_id=task)

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._key}"}


def _carries(param: Any, ref: str) -> bool:
    """Whether the task's request (`param`, a JSON string) called back with our reference."""
    try:
        request = json.loads(param) if isinstance(param, str) else param
        callback = str(request["callBackUrl"])
    except (ValueError, KeyError, TypeError):
        return False
    return parse_qs(urlsplit(callback).query).get("ref") == [ref]


def _duration(track: Any) -> float | None:
    value = track.get("duration") if isinstance(track, dict) else None
    return float(value) if isinstance(value, int | float) else None
