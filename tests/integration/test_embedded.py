"""The embedded server's start and stop on a DATA_DIR, in this process."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from db.embedded import DataDirLocked, running_postmaster, start_embedded


@pytest.fixture
def data_dir() -> Iterator[Path]:
    # Not under pytest's tmp_path: as root, pgserver runs the server as another user, who must
    # reach the directory, and a concurrent pytest session closes /tmp/pytest-of-<user> again.
    path = Path(tempfile.mkdtemp(prefix="gv-embedded-"))
    yield path
    for pgdata in (path / "pgdata", path / "other" / "pgdata", path / "mine" / "pgdata"):
        left = running_postmaster(pgdata)
        if left is not None:  # a failed test's server must not outlive it
            left.send_signal(signal.SIGQUIT)
            left.wait(10)
    shutil.rmtree(path, ignore_errors=True)


def test_a_second_start_on_a_live_data_dir_is_refused_and_leaves_the_server_alone(
    data_dir: Path,
) -> None:
    embedded = start_embedded(data_dir)
    try:
        postmaster = running_postmaster(embedded.pgdata)
        assert postmaster is not None
        with pytest.raises(DataDirLocked):
            start_embedded(data_dir)
        # Refused before anything looks for servers to stop: the live one keeps running.
        assert running_postmaster(embedded.pgdata) == postmaster
    finally:
        embedded.stop()
    assert running_postmaster(embedded.pgdata) is None
    assert not (embedded.pgdata / "postmaster.pid").exists()


def test_a_leftover_pid_file_naming_another_process_does_not_stop_the_start(
    data_dir: Path,
) -> None:
    embedded = start_embedded(data_dir)
    pid_file = embedded.pgdata / "postmaster.pid"
    lines = pid_file.read_text().splitlines()
    embedded.stop()
    # What a reboot can leave: the file of a server that is gone, its pid now another
    # process's (here this test's own).
    pid_file.write_text("\n".join([str(os.getpid()), *lines[1:]]) + "\n")

    again = start_embedded(data_dir)
    try:
        postmaster = running_postmaster(again.pgdata)
        assert postmaster is not None and postmaster.pid != os.getpid()
    finally:
        again.stop()


def test_a_pid_file_naming_another_data_dirs_server_leaves_that_server_running(
    data_dir: Path,
) -> None:
    other = start_embedded(data_dir / "other")
    try:
        neighbour = running_postmaster(other.pgdata)
        assert neighbour is not None
        mine = start_embedded(data_dir / "mine")
        pid_file = mine.pgdata / "postmaster.pid"
        lines = pid_file.read_text().splitlines()
        mine.stop()
        pid_file.write_text("\n".join([str(neighbour.pid), *lines[1:]]) + "\n")

        again = start_embedded(data_dir / "mine")
        try:
            postmaster = running_postmaster(again.pgdata)
            assert postmaster is not None and postmaster.pid != neighbour.pid
            # A postgres, but not this directory's: it is none of our business to stop it.
            assert running_postmaster(other.pgdata) == neighbour
        finally:
            again.stop()
    finally:
        other.stop()


def test_a_clean_stop_says_nothing_alarming(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    embedded = start_embedded(data_dir)
    with caplog.at_level(logging.WARNING):
        embedded.stop()
    # pgserver, left to stop the server as well, failed loudly: its pg_ctl found the server
    # already down while the unreaped postmaster still looked alive, and it killed that.
    assert [record.getMessage() for record in caplog.records] == []
    assert running_postmaster(embedded.pgdata) is None
