"""Concurrent P2P sends coalesced into one ledger statement (TigerBeetle's lever, on PostgreSQL).

Each send stays its own linked group (amount + fee succeed or fail together) inside an
unlinked batch, so one sender's failure never touches another's transfer; the recipients'
notices are written by the same statement, for the groups that applied. A batch costs one
round trip, one commit and one pass of the ledger function, however many sends it carries.

Nothing one caller sends may fail the statement for the others: `plan_send` refuses what the
statement would choke on, and a statement that fails as a whole all the same is bisected
until the send that fails it is alone (`SendBatcher._submit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from db.availability import database_unavailable
from db.database import Database
from db.models import User
from services.ledger.schemas import Asset, Transfer
from services.transfers.config import P2PRules
from services.transfers.errors import InvalidRequest
from services.transfers.service import PlannedSend, Receipt, plan_send, receipt_of

log = logging.getLogger(__name__)

# The notices of the groups that applied now (`pos`: a group's first leg) are enqueued by the
# same statement.
_BATCH_SQL = """
    WITH r AS MATERIALIZED (
        SELECT tokens.create_transfers($1::jsonb, false) AS results
    )
    SELECT r.results
    FROM r, ops.enqueue((
        SELECT jsonb_agg(n) FROM jsonb_array_elements($2::jsonb) n
        WHERE r.results[(n->>'pos')::integer] = 'ok'
    )) AS e
"""
# Serialization failures and deadlocks (only possible while accounts are being created) are
# safe to retry: the statement changed nothing.
_RETRYABLE = ("40001", "40P01")
_ATTEMPTS = 3


@dataclass
class _Pending:
    planned: PlannedSend
    done: asyncio.Future[Receipt] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class SendBatcher:
    """A `SendExecutor`: `await batcher.send(...)` behaves like `services.transfers.service.send`
    on its own transaction. A send waiting for its batch holds no connection: only the workers
    do, one each. `workers` statements may run at once (their locks are taken in id order).
    Two is fastest on a small server (bench/ledger/RESULTS.md): while one statement waits
    for its commit's WAL flush, the other computes; with one, the server idles during the
    flush. Waiting sends are split among the idle workers.
    """

    def __init__(
        self,
        db: Database,
        rules: P2PRules,
        *,
        max_batch: int = 128,
        workers: int = 2,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._db = db
        # Called after each batch's statement committed (its transfers wrote realtime events).
        self._on_commit = on_commit
        self._rules = rules
        self._max_batch = max_batch
        self._workers = workers
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        # Workers waiting for sends: a worker that wakes up leaves them their share.
        self._idle = 0
        self._waiting = 0

    @property
    def waiting(self) -> int:
        """Sends submitted and not yet answered."""
        return self._waiting

    async def send(
        self,
        *,
        sender: User,
        recipient: User,
        asset: Asset,
        amount: int,
        transfer_id: UUID,
        memo: str | None = None,
    ) -> Receipt:
        """Raises what `services.transfers.service.send` raises."""
        planned = plan_send(
            self._rules,
            sender=sender,
            recipient=recipient,
            asset=asset,
            amount=amount,
            transfer_id=transfer_id,
            memo=memo,
        )
        return await self.submit(planned)

    async def submit(self, planned: PlannedSend) -> Receipt:
        """Send a send planned by `plan_send` in the next batch; raises its own outcome's error.

        If the batch's statement fails as a whole anyway (what `plan_send` should have refused
        reached it), the batch is split until the send that fails it is alone: the others get
        their own outcomes, and the culprit a ValidationError(invalid_request) for data the
        database refused, or the error itself.
        """
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._run()) for _ in range(self._workers)]
        pending = _Pending(planned)
        self._queue.put_nowait(pending)
        self._waiting += 1
        try:
            return await pending.done
        finally:
            self._waiting -= 1

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _run(self) -> None:
        link = _Link(self._db)
        waiting: list[_Pending] = []
        try:
            while True:
                if not waiting:
                    self._idle += 1
                    try:
                        waiting.append(await self._queue.get())
                    finally:
                        self._idle -= 1
                # Concurrent callers tend to arrive together (they were answered by one batch):
                # split them among the idle workers, so that one statement computes while the
                # other waits for its commit's WAL flush, instead of taking turns.
                share = -(-(len(waiting) + self._queue.qsize()) // (1 + self._idle))
                while len(waiting) < share and not self._queue.empty():
                    waiting.append(self._queue.get_nowait())
                batch: list[_Pending] = []
                later: list[_Pending] = []
                ids: set[UUID] = set()
                for item in waiting:
                    legs = {leg.id for leg in item.planned.legs}
                    # A replay of an id already in this batch waits for the next one.
                    if len(batch) >= self._max_batch or legs & ids:
                        later.append(item)
                    else:
                        batch.append(item)
                        ids |= legs
                waiting = later
                await self._submit(link, batch)
        finally:
            await link.close()

    async def _submit(self, link: _Link, batch: list[_Pending]) -> None:
        try:
            results = await _execute(link, *_arguments(batch))
        except Exception as error:
            if len(batch) > 1 and not database_unavailable(error):
                # One send's data failed everyone's statement: bisect until it is alone. Nothing
                # of a failed statement was applied, and a send that had been (a replay, a
                # commit whose answer was lost) answers `exists`, so the halves are safe to run.
                log.warning("a batch of %d sends failed, isolating: %r", len(batch), error)
                half = len(batch) // 2
                await self._submit(link, batch[:half])
                await self._submit(link, batch[half:])
                return
            failure = _own_error(error) if len(batch) == 1 else error
            for item in batch:
                if not item.done.done():
                    item.done.set_exception(failure)
            return
        if self._on_commit is not None:
            self._on_commit()
        position = 0
        for item in batch:
            own = results[position : position + len(item.planned.legs)]
            position += len(item.planned.legs)
            if item.done.done():
                continue  # the caller gave up (cancelled); the transfer stands, replayable
            try:
                item.done.set_result(receipt_of(item.planned, own))
            except Exception as error:
                item.done.set_exception(error)


class _Link:
    """A worker's own `db.statement()` connection, kept between batches.

    Borrowing from the pool for every batch cost more Python than the batch's own work (the
    pool, SQLAlchemy's greenlet hop, the raw connection lookup). A connection that broke is
    dropped, and the next batch takes a fresh one.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._stack: contextlib.AsyncExitStack | None = None
        self._conn: AsyncConnection | None = None
        self._driver: Any = None

    async def driver(self) -> Any:
        if self._driver is None:
            stack = contextlib.AsyncExitStack()
            conn = await stack.enter_async_context(self._db.statement())
            self._driver = (await conn.get_raw_connection()).driver_connection
            self._stack, self._conn = stack, conn
        return self._driver

    @property
    def broken(self) -> bool:
        return self._driver is not None and bool(self._driver.is_closed())

    async def close(self, *, broken: bool = False) -> None:
        stack, conn = self._stack, self._conn
        self._stack = self._conn = self._driver = None
        if conn is not None and broken:
            await conn.invalidate()
        if stack is not None:
            with contextlib.suppress(Exception):
                await stack.aclose()


async def _execute(link: _Link, transfers: str, notices: str) -> list[str]:
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            driver = await link.driver()
            results: list[str] = await driver.fetchval(_BATCH_SQL, transfers, notices)
            return results
        except Exception as error:
            # A lost connection is safe to retry too: if the batch committed before the loss,
            # the retry finds its ids and answers `exists` without moving anything again.
            lost = link.broken or database_unavailable(error)
            if lost:
                await link.close(broken=True)
            if attempt == _ATTEMPTS or not (lost or getattr(error, "sqlstate", None) in _RETRYABLE):
                raise
            log.info("retrying a transfer batch after %r", error)
    raise AssertionError("unreachable")


def _arguments(batch: list[_Pending]) -> tuple[str, str]:
    transfers: list[dict[str, Any]] = []
    notices: list[dict[str, Any]] = []
    for group, item in enumerate(batch):
        notices.append({"pos": len(transfers) + 1, **item.planned.notice})
        transfers.extend(_grouped(leg, group) for leg in item.planned.legs)
    return json.dumps(transfers, separators=(",", ":")), json.dumps(notices)


def _own_error(error: Exception) -> Exception:
    """A send alone in its statement failed it: data PostgreSQL refused (class 22: a NUL, a
    lone surrogate, a number out of range) is the request's fault, a 4xx; anything else stays
    what it was.
    """
    if isinstance(error, asyncpg.DataError | ValueError | TypeError):
        log.error("a send that plan_send let through failed its statement: %r", error)
        return InvalidRequest("the transfer could not be stored")
    return error


def _grouped(leg: Transfer, group: int) -> dict[str, Any]:
    item = leg.to_json()
    item["group"] = group
    return item
