"""Midjourney through a midjourney-proxy compatible API: `POST /mj/submit/imagine`
(`mj-api-secret`) → `{code, description, result: taskId}` (1 submitted, 22 queued; 24 a
banned prompt, 23 the queue full), `GET /mj/task/{id}/fetch` → NOT_START / SUBMITTED /
IN_PROGRESS (`progress: "NN%"`) / SUCCESS (`imageUrl`) / FAILURE (`failReason`) / CANCEL.
`notifyHook` posts the same object, unsigned: it only makes the next status read due."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from integrations.ai.http import KeyedClient, classify, download, request_json
from services.generation.providers import (
    Handle,
    JobLost,
    JobRequest,
    JobStatus,
    Moderated,
    Output,
    Retryable,
    Unavailable,
    WebhookEvent,
    WebhookRejected,
)

_BANNED = ("banned", "sensitive", "moderat")


class MidjourneyProxyProvider(KeyedClient):
    name = "mj"
    webhooks = True

    default_poll_seconds = 10.0

    async def submit(self, request: JobRequest) -> Handle:
        ratio = str(request.params.get("aspect_ratio", "1:1"))
        body: dict[str, Any] = {
            "prompt": f"{request.prompt} --ar {ratio}",
            "botType": "MID_JOURNEY",
            # Echoed back in the task and its notifyHook: a callback for a task whose id a
            # crash kept us from recording still names its job.
            "state": request.job_id,
        }
        if request.webhook_url:
            body["notifyHook"] = request.webhook_url
        url = f"{self.base}/mj/submit/imagine"
        status, answer = await request_json(
            self._http(), "POST", url, json=body, headers=self._auth()
        )
        if status != 200 or not isinstance(answer, dict):
            raise classify(status, answer)
        code = answer.get("code")
        if code in (1, 22) and answer.get("result"):
            return Handle(id=str(answer["result"]))
        description = str(answer.get("description", ""))
        if code == 24:
            raise Moderated(description[:200])
        if code == 23:
            raise Retryable("queue full")
        raise Unavailable(f"code {code}: {description[:200]}")

    async def status(self, handle: Handle) -> JobStatus:
        url = f"{self.base}/mj/task/{handle.id}/fetch"
        code, task = await request_json(self._http(), "GET", url, headers=self._auth())
        if code == 404 or (code == 200 and task is None):
            raise JobLost("task not found")
        if code != 200 or not isinstance(task, dict):
            raise classify(code, task)
        # A task bound by an (unsigned) callback must echo the reference we submitted with.
        ref = handle.state.get("ref")
        if ref is not None and task.get("state") != ref:
            raise JobLost("the task is not the one we submitted")
        state = task.get("status")
        if state in ("NOT_START", "SUBMITTED", "MODAL"):
            return JobStatus(state="queued")
        if state == "IN_PROGRESS":
            return JobStatus(state="running", progress=_percent(task.get("progress")))
        if state == "SUCCESS" and task.get("imageUrl"):
            return JobStatus(
                state="succeeded",
                progress=100,
                outputs=(Output("image/png", url=str(task["imageUrl"])),),
            )
        reason = str(task.get("failReason") or state)
        if any(word in reason.lower() for word in _BANNED):
            raise Moderated(reason[:200])
        raise JobLost(f"{state}: {reason}"[:200])

    async def cancel(self, handle: Handle) -> None:
        return None  # the proxy protocol has no cancel for imagine

    async def download(self, output: Output) -> bytes:
        assert output.url is not None
        return await download(self._http(), output.url)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        try:
            task = json.loads(body)
            task_id, status = task["id"], task["status"]
        except (ValueError, KeyError, TypeError) as exc:
            raise WebhookRejected("not a task") from exc
        if not isinstance(task_id, str) or not task_id:
            raise WebhookRejected("not a task")
        # Both go into the delivery id (checked, as the ids are, by `receive`): plain values
        # only, never a JSON list or object's repr.
        progress = task.get("progress", "")
        if not isinstance(status, str | None) or not isinstance(progress, str | int | float | None):
            raise WebhookRejected("not a task")
        state = task.get("state")
        return WebhookEvent(
            delivery_id=f"{task_id}:{status}:{progress}",
            job_id=task_id,
            reference=state if isinstance(state, str) and state else None,
        )

    def _auth(self) -> dict[str, str]:
        return {"mj-api-secret": self._key}


def _percent(value: object) -> int:
    text = str(value or "0").rstrip("%")
    return min(99, int(text)) if text.isdigit() else 0
