"""py-spy samples of the platform process under load, summed per function."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    """`py-spy` from PATH or BENCH_PY_SPY (e.g. `pip install --prefix /tmp/pyspy py-spy`)."""
    return os.environ.get("BENCH_PY_SPY") or shutil.which("py-spy")


async def record(binary: str, pid: int, seconds: float, out: Path) -> None:
    argv = [binary, "record", "--pid", str(pid), "--duration", str(int(seconds))]
    argv += ["--rate", "200", "--nonblocking", "--format", "raw", "--output", str(out)]
    done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"py-spy failed: {done.stderr.strip()}")


_FRAME = re.compile(r"^(?P<func>[^ ]+) \((?P<file>[^:)]+)(?::\d+)?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    file = match["file"]
    for marker in ("site-packages/", "python3.11/", "/bench/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{match['func']} ({file})"


def summarize(raw: Path, top: int = 30) -> str:
    """Inclusive and self share of the samples per function, the largest first."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        for name in set(frames):
            inclusive[name] += n
        own[frames[-1]] += n
    if total == 0:
        return "no samples"
    lines = [f"{total} samples; inclusive % (function, file):"]
    lines += [f"  {100 * n / total:5.1f}  {name}" for name, n in inclusive.most_common(top)]
    lines.append("self % (where the CPU was):")
    lines += [f"  {100 * n / total:5.1f}  {name}" for name, n in own.most_common(top // 2)]
    return "\n".join(lines)
