"""A generation worker as its own process, for the crash test (`kill -9` mid-job).

python -m tests.generation_worker_process <owner_url> <media_dir> <local_seconds>
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from db.database import create_database
from db.urls import app_url_from_owner
from integrations.ai.local import LocalProvider
from services.generation.media import MediaStore
from services.generation.worker import Worker, WorkerConfig
from tests.generation_helpers import models


async def main(owner_url: str, media: str, seconds: float) -> None:
    db = create_database(app_url_from_owner(owner_url), pool_size=2)
    worker = Worker(
        db,
        models(),
        {"local": LocalProvider(seconds)},
        MediaStore(Path(media)),
        WorkerConfig(idle_seconds=0.05, lease_seconds=1.0),
    )
    print("ready", flush=True)
    await worker.run_forever(asyncio.Event())


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3])))
