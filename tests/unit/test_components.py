"""`Components`: stop in the reverse order of start, every stop runs even when one fails."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import pytest

from app.components import Components


async def test_components_stop_in_reverse_order_and_a_failed_stop_does_not_skip_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def part(name: str, fails: bool = False) -> AsyncIterator[str]:
        events.append(f"start {name}")
        try:
            yield name
        finally:
            events.append(f"stop {name}")
            if fails:
                raise RuntimeError(f"{name} would not stop")

    caplog.set_level(logging.INFO, logger="app.components")
    async with contextlib.AsyncExitStack() as stack:
        parts = Components(stack)
        assert await parts.start("storage", part("storage")) == "storage"
        await parts.start("client", part("client", fails=True), "closed")
        await parts.start("intake", part("intake"))
        assert parts.started == ["storage", "client", "intake"]
    assert events == [
        "start storage",
        "start client",
        "start intake",
        "stop intake",
        "stop client",
        "stop storage",
    ]
    messages = [r.getMessage() for r in caplog.records if r.getMessage().startswith("shutdown:")]
    assert [m.split(" (")[0] for m in messages] == [
        "shutdown: intake stopped",
        "shutdown: client closed failed",
        "shutdown: storage stopped",
    ]
