"""A unit of work's type says who it runs as, and mypy holds service code to it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MISUSE = Path(__file__).with_name("misuse.py")
EXPECT = re.compile(r"# expect: ([a-z-]+) (.+)$")
ERROR = re.compile(
    r"^(?P<path>[^:]+):(?P<line>\d+): error: (?P<message>.*)  \[(?P<code>[a-z-]+)\]$"
)
# The app's code names `UserTx`, `ServiceTx` or `AnyTx`; a bare session accepts either.
APP = ("bot", "services", "webapp_api", "integrations", "sandbox", "bench")


def expected_errors() -> dict[int, tuple[str, str]]:
    found = {}
    for number, line in enumerate(MISUSE.read_text().splitlines(), start=1):
        if (match := EXPECT.search(line)) is not None:
            found[number] = (match[1], match[2])
    return found


def test_mypy_refuses_a_transaction_of_the_wrong_kind() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "pyproject.toml",
            "--no-error-summary",
            "--show-error-codes",
            "--hide-error-context",
            "--no-pretty",
            str(MISUSE.relative_to(ROOT)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stderr + run.stdout
    actual: dict[int, tuple[str, str]] = {}
    for line in run.stdout.splitlines():
        if ": note: " in line:
            continue
        match = ERROR.match(line)
        assert match is not None, f"unexpected mypy output: {line}"
        assert Path(match["path"]).resolve() == MISUSE, line
        actual[int(match["line"])] = (match["code"], match["message"])
    expected = expected_errors()
    assert len(expected) == 7
    assert actual.keys() == expected.keys(), run.stdout
    for number, (code, text) in expected.items():
        assert actual[number][0] == code, actual[number]
        assert text in actual[number][1], actual[number]


def test_no_app_code_takes_a_bare_session() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in APP
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if re.search(r"\bAsyncSession\b", line)
    ]
    assert offenders == []
