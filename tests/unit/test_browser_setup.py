"""The test command on a fresh machine: Chromium is installed where the machine allows, the
reason is one line where it does not, and CI never counts a run without the browser tests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
Runner = Callable[[Sequence[str]], tuple[bool, str]]


@pytest.fixture
def dev(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("dev_under_test", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.delenv("CHROMIUM_PATH", raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path / "no-downloads"))
    return module


def machine(
    monkeypatch: pytest.MonkeyPatch,
    dev: ModuleType,
    *,
    root: bool,
    apt: bool,
    installs: bool,
) -> tuple[list[list[str]], Runner]:
    """A fresh machine without Chromium: the commands run so far, and the runner that runs
    them (an install succeeds when `installs`)."""
    installed: list[str] = []
    ran: list[list[str]] = []

    def which(name: str) -> str | None:
        if name == "apt-get" and apt:
            return "/usr/bin/apt-get"
        return "/usr/bin/chromium" if name == "chromium" and installed else None

    def run(command: Sequence[str]) -> tuple[bool, str]:
        ran.append(list(command))
        if "install" in command and installs:
            installed.append(command[0])
            return True, ""
        return (
            (False, "E: Unable to locate package chromium") if "install" in command else (True, "")
        )

    monkeypatch.setattr(dev.shutil, "which", which)
    monkeypatch.setattr(dev.os, "geteuid", lambda: 0 if root else 1000)
    return ran, run


def test_chromium_already_there_runs_nothing(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHROMIUM_PATH", "/opt/chromium")

    def run(command: Sequence[str]) -> tuple[bool, str]:
        raise AssertionError(f"ran {command}")

    assert dev.ensure_browser(run) is None


def test_root_on_debian_installs_chromium_with_apt(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran, run = machine(monkeypatch, dev, root=True, apt=True, installs=True)
    assert dev.ensure_browser(run) is None
    assert ran == [
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "chromium", "fonts-noto-color-emoji"],
    ]


def test_without_root_or_network_it_says_why_in_one_line(
    dev: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ran, run = machine(monkeypatch, dev, root=False, apt=True, installs=False)
    reason = dev.ensure_browser(run)
    assert [command[0] for command in ran] == [str(dev.PYTHON)]  # no apt-get without root
    assert ran[0][1:] == ["-m", "playwright", "install", "chromium"]
    assert reason is not None and "\n" not in reason
    assert "needs root" in reason and "Playwright's download failed" in reason
    assert capsys.readouterr().out.strip().splitlines()[-1] == reason


def test_only_runs_that_include_the_browser_tests_install_it(dev: ModuleType) -> None:
    assert dev.wants_browser([]) and dev.wants_browser(["-q", "-x"])
    assert dev.wants_browser([str(ROOT / "tests")]) and dev.wants_browser(["tests/e2e"])
    assert not dev.wants_browser([str(ROOT / "tests" / "unit")])


@pytest.mark.parametrize(("ci", "outcome"), [("true", "error"), ("", "skipped")])
def test_without_chromium_browser_tests_skip_locally_and_fail_in_ci(
    tmp_path: Path, ci: str, outcome: str
) -> None:
    env = {
        **os.environ,
        "PATH": str(tmp_path),  # no chromium on it
        "HOME": str(tmp_path),
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path),
        "CHROMIUM_PATH": "",
        "CI": ci,
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/e2e/test_browser_flows.py",
            "-k",
            "tampered",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert f"1 {outcome}" in summary, done.stdout[-2000:]
    assert (done.returncode != 0) is (outcome == "error")
    if outcome == "error":
        assert "under CI=true the browser tests never skip" in done.stdout
