#!/usr/bin/env python3
"""The two commands: `python3 dev.py run` and `python3 dev.py test`.

Needs only Python >= 3.11: makes `.venv`, installs the project into it when pyproject.toml
changed since the last install, then runs the platform or the test suite inside it.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def ensure_environment(extras: str) -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file may be run by an older python3
        sys.exit("Python 3.11 or newer is required")
    if not PYTHON.exists():
        print("creating .venv ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()[
        :16
    ]
    stamp = VENV / f".installed-{digest}"
    if stamp.exists():
        return
    print(f"installing dependencies ({extras or 'runtime'}) into .venv ...", flush=True)
    target = f".[{extras}]" if extras else "."
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "-q", "-e", target], cwd=ROOT, check=True)
    for old in VENV.glob(".installed-*"):
        old.unlink()
    stamp.touch()


def hand_over(*args: str) -> int:
    """Become the command, so Ctrl-C and SIGTERM reach it directly (a child would be orphaned)."""
    os.chdir(ROOT)
    command = [str(PYTHON), *args]
    if os.name == "nt":
        return subprocess.call(command)
    os.execv(command[0], command)
    raise AssertionError("unreachable")


def main() -> int:
    command, *rest = sys.argv[1:] or ["run"]
    if command == "run":
        ensure_environment("")
        return hand_over("-m", "bot", *rest)
    if command == "test":
        ensure_environment("dev")
        return hand_over("-m", "pytest", *rest)
    if command == "check":
        ensure_environment("dev")
        packages = [
            "bot",
            "db",
            "migrations",
            "services",
            "webapp_api",
            "integrations",
            "sandbox",
            "bench",
        ]
        for step in (
            ["ruff", "check", "."],
            ["ruff", "format", "--check", "."],
            ["mypy", *packages],
        ):
            code = subprocess.call([PYTHON, "-m", *step], cwd=ROOT)
            if code:
                return code
        return 0
    sys.exit("usage: python3 dev.py [run|test|check] [args...]")


if __name__ == "__main__":
    raise SystemExit(main())
