"""Realtime wake-ups over Redis pub/sub, when `REDIS_URL` is set.

The ledger's events carry no NOTIFY (a notifying commit takes PostgreSQL's server-wide
notify-queue lock, which serialised the ledger), so without help a listener finds them at its
next poll. With Redis, whoever committed them says so after the commit (`announce`: one
PUBLISH per ledger batch, not per event, never inside the transaction) and every instance's
listener reads at once (`relay`). The message carries nothing: the table stays the truth, so a
lost, late or duplicated wake-up costs at most one poll interval or one empty read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import coredis
from coredis.exceptions import RedisError

log = logging.getLogger(__name__)

CHANNEL = "goodvibe:realtime:wake"
_RECONNECT_SECONDS = 0.5
# A wake-up that cannot be sent within this is dropped: the poll delivers the events anyway.
_PUBLISH_SECONDS = 1.0


class RedisWakeups:
    def __init__(self, url: str) -> None:
        self._client: coredis.Redis[bytes] = coredis.Redis.from_url(url)
        self._sending: set[asyncio.Task[None]] = set()
        self._failing = False
        self.published = 0
        self.received = 0

    def announce(self) -> None:
        """After a commit that wrote events: wake every listener. Never waits, never raises."""
        task = asyncio.create_task(self._publish())
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _publish(self) -> None:
        try:
            async with asyncio.timeout(_PUBLISH_SECONDS):
                await self._client.publish(CHANNEL, b"")
        except (RedisError, OSError, TimeoutError) as exc:
            if not self._failing:
                log.warning("realtime wake-ups not sent over Redis (%r); polling meanwhile", exc)
            self._failing = True
            return
        if self._failing:
            log.info("realtime wake-ups sent over Redis again")
        self._failing = False
        self.published += 1

    async def relay(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Until `stop`: call `wake` for every wake-up; a lost subscription is renewed."""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                listening = asyncio.ensure_future(self._listen(wake))
                await asyncio.wait({listening, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not listening.done():
                    listening.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await listening
                    return
                await asyncio.wait({stopping}, timeout=_RECONNECT_SECONDS)
        finally:
            stopping.cancel()

    async def _listen(self, wake: Callable[[], None]) -> None:
        try:
            async with self._client.pubsub(
                channels=[CHANNEL], ignore_subscribe_messages=True
            ) as pubsub:
                # Whatever was announced while (re)subscribing was not heard: read now.
                wake()
                async for _message in pubsub:
                    self.received += 1
                    wake()
        except (RedisError, OSError) as exc:
            log.warning("realtime wake-ups lost their Redis subscription (%r)", exc)

    async def close(self) -> None:
        for task in list(self._sending):
            task.cancel()
        await asyncio.gather(*self._sending, return_exceptions=True)
