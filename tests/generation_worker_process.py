"""A generation worker as its own process, for the crash tests (`kill -9` mid-job).

python -m tests.generation_worker_process <owner_url> <media_dir> <local_seconds> [bfl=<base>]
    [stall]

`bfl=<base>`: BFL (at a local fake) first, then local. `stall`: the first provider's submit
goes out, "submitted" is printed, and the worker then hangs before recording the answer: the
crash window between the provider's submit and the record of its job id.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from db.database import create_database
from db.urls import app_url_from_owner
from integrations.ai.bfl import BflProvider
from integrations.ai.local import LocalProvider
from services.generation.media import MediaStore
from services.generation.providers import (
    Handle,
    JobRequest,
    JobStatus,
    Output,
    Provider,
    WebhookEvent,
)
from services.generation.worker import Worker, WorkerConfig
from tests.generation_helpers import models

BFL_KEY = "bfl_test_key"


class Stalling:
    """Submits through the wrapped provider, says so, then never returns."""

    def __init__(self, inner: Provider) -> None:
        self.inner = inner
        self.name = inner.name
        self.webhooks = inner.webhooks
        self.poll_seconds = inner.poll_seconds

    async def submit(self, request: JobRequest) -> Handle:
        await self.inner.submit(request)
        print("submitted", flush=True)
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def status(self, handle: Handle) -> JobStatus:
        return await self.inner.status(handle)

    async def cancel(self, handle: Handle) -> None:
        await self.inner.cancel(handle)

    async def download(self, output: Output) -> bytes:
        return await self.inner.download(output)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        return self.inner.parse_webhook(headers, body)


async def main(owner_url: str, media: str, seconds: float, *options: str) -> None:
    db = create_database(app_url_from_owner(owner_url), pool_size=2)
    providers: dict[str, Any] = {"local": LocalProvider(seconds)}
    order: tuple[str, ...] = ("local",)
    for option in options:
        if option.startswith("bfl="):
            providers["bfl"] = BflProvider(option[4:], BFL_KEY, poll_seconds=0.05)
            order = ("bfl", "local")
    if "stall" in options:
        providers[order[0]] = Stalling(providers[order[0]])
    worker = Worker(
        db,
        models(order),
        providers,
        MediaStore(Path(media)),
        WorkerConfig(idle_seconds=0.05, lease_seconds=1.0),
    )
    print("ready", flush=True)
    await worker.run_forever(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), *sys.argv[4:]))
