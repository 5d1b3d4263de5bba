"""Results kept where the platform controls them (`DATA_DIR/media`), one directory per job.

A file is written under a temporary name and renamed into place, so a reader never sees half
of it and a worker that writes it again after a crash replaces it whole.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from uuid import UUID

_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "video/mp4": "mp4",
}


class MediaStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, job_id: UUID, index: int, mime: str) -> Path:
        return self.root / str(job_id) / f"{index}.{_EXTENSIONS.get(mime, 'bin')}"

    async def save(self, job_id: UUID, index: int, mime: str, data: bytes) -> Path:
        return await asyncio.to_thread(self._save, job_id, index, mime, data)

    def _save(self, job_id: UUID, index: int, mime: str, data: bytes) -> Path:
        target = self.path(job_id, index, mime)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(data)
        os.replace(partial, target)
        return target

    async def read(self, job_id: UUID, index: int, mime: str) -> bytes:
        return await asyncio.to_thread(self.path(job_id, index, mime).read_bytes)
