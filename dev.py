#!/usr/bin/env python3
"""The two commands: `python3 dev.py run` and `python3 dev.py test`.

Needs only Python >= 3.11: makes `.venv`, installs the project into it when pyproject.toml
changed since the last install, then runs the platform or the test suite inside it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

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


def find_chromium() -> str | None:
    """CHROMIUM_PATH, Debian's chromium, or the one Playwright downloaded (tests/e2e looks the
    same way)."""
    explicit = os.environ.get("CHROMIUM_PATH")
    if explicit:
        return explicit
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    cache = os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or str(Path.home() / ".cache/ms-playwright")
    downloaded = sorted(Path(cache).glob("chromium-*/chrome-linux*/chrome"))
    return str(downloaded[-1]) if downloaded else None


if TYPE_CHECKING:  # only for type checkers: an old python3 must reach the version message
    Runner = Callable[[Sequence[str]], tuple[bool, str]]


def run_quietly(command: Sequence[str]) -> tuple[bool, str]:
    """Run a step; on failure return the last line it printed, which usually says why."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    lines = (
        done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
    ).splitlines()
    return done.returncode == 0, lines[-1] if lines else ""


def ensure_browser(run: Runner = run_quietly) -> str | None:
    """The browser tests drive Chromium: install it where this machine allows (Debian's
    package as root, else Playwright's own download where there is a network). Returns the
    one-line reason when it could not, also printed."""
    if find_chromium():
        return None
    reasons = []
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if shutil.which("apt-get") and is_root:
        print("chromium is missing: installing Debian's chromium with apt-get ...", flush=True)
        ok, why = run(["apt-get", "update", "-qq"])
        if ok:
            ok, why = run(["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-color-emoji"])
        if ok and find_chromium():
            return None
        reasons.append(f"apt-get install chromium failed ({why})")
    elif shutil.which("apt-get"):
        reasons.append("Debian's chromium needs root: sudo apt-get install -y chromium")
    print("chromium is missing: trying Playwright's own Chromium download ...", flush=True)
    ok, why = run([str(PYTHON), "-m", "playwright", "install", "chromium"])
    if ok and find_chromium():
        return None
    reasons.append(f"Playwright's download failed ({why})")
    reason = "browser tests cannot run here, chromium is missing: " + "; ".join(reasons)
    print(reason, flush=True)
    return reason


def wants_browser(args: Sequence[str]) -> bool:
    """Whether a test run includes the browser tests (no paths given, or a path to them)."""
    paths = [arg for arg in args if not arg.startswith("-") and Path(arg).exists()]
    tests = (ROOT / "tests").resolve()
    return not paths or any(
        "e2e" in arg or Path(arg).resolve() in (ROOT.resolve(), tests) for arg in paths
    )


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
        if wants_browser(rest):
            ensure_browser()
        return hand_over("-m", "pytest", *rest)
    if command == "check":
        ensure_environment("dev")
        packages = [
            "app",
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
