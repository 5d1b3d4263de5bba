"""The event log: written by the ledger's trigger in the transfer's transaction, read once per
process by the listener, handed to the right subscribers only, and refilled after a lost
connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy import text

from db.database import Database
from db.urls import app_url_from_owner, asyncpg_dsn
from services.ledger.schemas import Transfer
from services.ledger.service import apply, create_transfers, system_account, user_account
from services.realtime.hub import SLOW_CONSUMER, EventHub, Subscriber
from services.realtime.listener import EventListener
from services.realtime.schemas import Event
from services.realtime.service import events_after, publish
from services.realtime.tasks import purge_events
from tests.ledger_helpers import fund, make_user

DEADLINE = 10.0
_NOW = datetime(2026, 12, 3, tzinfo=UTC)


async def _send(db: Database, sender: UUID, recipient: UUID, amount: int) -> UUID:
    transfer = uuid4()
    async with db.service() as session:
        await apply(
            session,
            [
                Transfer(
                    id=transfer,
                    debit=user_account(sender),
                    credit=user_account(recipient),
                    asset="VIBE",
                    amount=amount,
                    code="p2p",
                )
            ],
        )
    return transfer


async def _events(db: Database) -> list[tuple[UUID | None, str, dict[str, str]]]:
    async with db.service() as session:
        rows = await session.execute(text("SELECT user_id, type, data FROM ops.events ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_a_transfer_writes_in_and_out_events_for_user_accounts_only(db: Database) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 1_000)
    transfer = await _send(db, ann.id, bob.id, 300)
    events = await _events(db)
    # The funding: issuance is a system account, so only Ann's "in".
    assert [(user, kind, data["direction"]) for user, kind, data in events] == [
        (ann.id, "transfer", "in"),
        (ann.id, "transfer", "out"),
        (bob.id, "transfer", "in"),
    ]
    assert events[1][2] == {
        "transfer_id": str(transfer),
        "kind": "single",
        "direction": "out",
        "asset": "VIBE",
        "amount": "300",
        "code": "p2p",
    }


async def test_a_rolled_back_or_refused_transfer_writes_no_event(db: Database) -> None:
    ann, bob = await make_user(db), await make_user(db)
    async with db.service() as session:  # refused, stored as a failure: no event
        refused = Transfer(
            id=uuid4(),
            debit=user_account(ann.id),
            credit=user_account(bob.id),
            asset="VIBE",
            amount=5,
            code="p2p",
        )
        assert await create_transfers(session, [refused]) == ["insufficient_funds"]
    with contextlib.suppress(RuntimeError):
        async with db.service() as session:
            await apply(
                session,
                [
                    Transfer(
                        id=uuid4(),
                        debit=system_account("issuance"),
                        credit=user_account(bob.id),
                        asset="VIBE",
                        amount=9,
                        code="test",
                    )
                ],
            )
            raise RuntimeError("roll back")
    assert await _events(db) == []


@contextlib.asynccontextmanager
async def listening(owner_url: str, hub: EventHub) -> AsyncIterator[EventListener]:
    listener = EventListener(
        asyncpg_dsn(app_url_from_owner(owner_url)),
        hub,
        server_settings={"role": "gv_service", "application_name": "rt-test-listener"},
        poll_seconds=0.1,
        gap_seconds=2.0,
        reconnect_seconds=0.1,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    await asyncio.wait_for(listener.connected.wait(), DEADLINE)
    try:
        yield listener
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE)


async def _receive(subscriber: Subscriber, count: int) -> list[Event]:
    got: list[Event] = []
    async with asyncio.timeout(DEADLINE):
        while len(got) < count:
            item = await subscriber.queue.get()
            assert isinstance(item, Event)
            got.append(item)
    return got


async def test_the_listener_hands_each_user_only_their_events(owner_url: str, db: Database) -> None:
    hub = EventHub()
    ann, bob = await make_user(db), await make_user(db)
    async with listening(owner_url, hub):
        anns, bobs = hub.subscribe(ann.id), hub.subscribe(bob.id)
        anns.release()
        bobs.release()
        await fund(db, ann.id, 100)
        await _send(db, ann.id, bob.id, 40)
        async with db.service() as session:
            await publish(session, "announcements", "announcement", {"text": "hi"})
        got_ann = await _receive(anns, 3)
        got_bob = await _receive(bobs, 2)
    assert [(e.channel, e.data.get("direction")) for e in got_ann] == [
        ("user", "in"),
        ("user", "out"),
        ("announcements", None),
    ]
    assert [(e.channel, e.data.get("direction")) for e in got_bob] == [
        ("user", "in"),
        ("announcements", None),
    ]
    assert all(e.user_id in (bob.id, None) for e in got_bob)
    assert anns.queue.empty() and bobs.queue.empty()


async def test_a_lost_listen_connection_is_reopened_and_the_gap_read_from_the_table(
    owner_url: str, db: Database
) -> None:
    hub = EventHub()
    ann = await make_user(db)
    async with listening(owner_url, hub) as listener:
        subscriber = hub.subscribe(ann.id)
        subscriber.release()
        await fund(db, ann.id, 1)
        assert len(await _receive(subscriber, 1)) == 1
        owner = await asyncpg.connect(asyncpg_dsn(owner_url))
        try:
            # The listener's backend goes away; events commit while it is gone.
            await owner.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'rt-test-listener'"
            )
            for _ in range(5):
                await fund(db, ann.id, 1)
        finally:
            await owner.close()
        got = await _receive(subscriber, 5)
        assert listener.reconnects >= 1
    assert len({e.id for e in got}) == 5
    assert [e.id for e in got] == sorted(e.id for e in got)


async def test_an_id_committed_after_a_higher_one_is_still_handed_over(
    owner_url: str, db: Database
) -> None:
    hub = EventHub()
    ann = await make_user(db)
    async with listening(owner_url, hub):
        subscriber = hub.subscribe(ann.id)
        subscriber.release()
        async with db.service() as slow:
            early = await publish(slow, "user", "note", {"n": 1}, user_id=ann.id)
            async with db.service() as fast:
                late = await publish(fast, "user", "note", {"n": 2}, user_id=ann.id)
            assert early < late
            assert [e.id for e in await _receive(subscriber, 1)] == [late]
        assert [e.id for e in await _receive(subscriber, 1)] == [early]


async def test_resume_reads_the_users_stream_until_it_was_purged(
    owner_url: str, db: Database
) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 10)
    await fund(db, bob.id, 10)
    async with db.service() as session:
        stream = await events_after(session, ann.id, 0)
        assert stream is not None and [e.user_id for e in stream] == [ann.id]
        assert await events_after(session, ann.id, stream[0].id) == []
    assert await purge_events(db, 3600) == 0
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        await owner.execute("UPDATE ops.events SET created_at = now() - interval '2 h'")
    finally:
        await owner.close()
    assert await purge_events(db, 3600) == 2
    async with db.service() as session:
        assert await events_after(session, ann.id, 0) is None
        assert await events_after(session, ann.id, stream[0].id + 5) == []


def test_a_subscriber_that_cannot_keep_up_is_closed_not_grown() -> None:
    hub = EventHub(max_pending=3)
    user = uuid4()
    subscriber = hub.subscribe(user)
    subscriber.release()
    for n in range(1, 5):
        hub.dispatch([Event(n, user, "user", "note", {}, _NOW)])
    assert subscriber.queue.qsize() == 3
    assert subscriber.close_code == SLOW_CONSUMER and subscriber.closed.is_set()


def test_held_events_and_a_replay_go_out_once_each_in_id_order() -> None:
    hub = EventHub()
    user = uuid4()
    subscriber = hub.subscribe(user)
    hub.dispatch([Event(n, user, "user", "note", {}, _NOW) for n in (7, 8)])
    subscriber.release([Event(n, user, "user", "note", {}, _NOW) for n in (5, 6, 7)])
    hub.dispatch([Event(8, user, "user", "note", {}, _NOW)])
    items = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    ids = [item.id for item in items if isinstance(item, Event)]
    assert ids == [5, 6, 7, 8]
