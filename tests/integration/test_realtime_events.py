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
from services.ledger.balances import balances as user_balances
from services.ledger.schemas import ResolveHold, Transfer
from services.ledger.service import apply, create_transfers, system_account, user_account
from services.realtime.hub import SLOW_CONSUMER, EventHub, Subscriber
from services.realtime.listener import EventListener
from services.realtime.schemas import Event
from services.realtime.service import events_after, publish
from services.realtime.tasks import purge_events
from tests.invariants import assert_invariants
from tests.ledger_helpers import fund, make_user

DEADLINE = 10.0
_ALL = 2**62
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


async def _ids(db: Database) -> list[int]:
    async with db.service() as session:
        return list((await session.execute(text("SELECT id FROM ops.events"))).scalars())


async def _events(db: Database) -> list[tuple[UUID | None, str, dict[str, str]]]:
    async with db.service() as session:
        rows = await session.execute(text("SELECT user_id, type, data FROM ops.events ORDER BY id"))
        return [(r[0], r[1], r[2]) for r in rows]


async def test_a_transfer_writes_in_and_out_events_for_user_accounts_only(db: Database) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 1_000)
    transfer = await _send(db, ann.id, bob.id, 300)
    events = [e for e in await _events(db) if e[1] == "transfer"]
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


async def test_every_ledger_statement_writes_the_new_balances_of_the_wallets_it_touched(
    db: Database,
) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 1_000)
    await _send(db, ann.id, bob.id, 300)
    hold = uuid4()
    async with db.service() as session:  # a hold, then its partial post: pending, then posted
        await apply(
            session,
            [
                Transfer(
                    id=hold,
                    kind="pending",
                    debit=user_account(bob.id),
                    credit=system_account("ai_spend"),
                    asset="VIBE",
                    amount=100,
                    code="ai",
                )
            ],
        )
    async with db.service() as session:
        await apply(session, [ResolveHold(id=uuid4(), pending_id=hold, kind="post", amount=60)])
    events = await _events(db)
    kinds = [(user, kind) for user, kind, _ in events]
    # Per statement: its transfer events, then one balance per wallet (in either order).
    assert kinds[:2] == [(ann.id, "transfer"), (ann.id, "balance")]
    assert kinds[2:4] == [(ann.id, "transfer"), (bob.id, "transfer")]
    assert sorted(kinds[4:6], key=lambda k: k[0] == bob.id) == [
        (ann.id, "balance"),
        (bob.id, "balance"),
    ]
    assert kinds[6:] == [(bob.id, "transfer"), (bob.id, "balance")] * 2
    balances = [(user, data) for user, kind, data in events if kind == "balance"]

    def wallet(available: int, pending: int, posted: int) -> dict[str, object]:
        return {
            "asset": "VIBE",
            "available": str(available),
            "pending": str(pending),
            "posted": str(posted),
        }

    assert balances[0] == (ann.id, wallet(1_000, 0, 1_000))
    assert sorted(balances[1:3], key=lambda b: b[0] == bob.id) == [
        (ann.id, wallet(700, 0, 700)),
        (bob.id, wallet(300, 0, 300)),
    ]
    assert balances[3] == (bob.id, wallet(200, 100, 300))
    assert balances[4] == (bob.id, wallet(240, 0, 240))
    # The event's figures are the ones GET /api/v1/balances reads.
    async with db.user(bob.id) as reader:
        (vibe,) = [b for b in await user_balances(reader) if b.asset == "VIBE"]
    assert balances[4][1] == vibe.model_dump(exclude={"decimals"})


async def test_a_hold_s_credit_side_gets_a_balance_event_only_when_it_is_posted(
    db: Database,
) -> None:
    """A hold moves its credit wallet's `credits_pending`, which no balance figure holds: the
    wallet is told of the transfer, and of new balances only when the hold posts."""
    bob = await make_user(db)
    holds = [uuid4(), uuid4()]
    async with db.service() as session:
        await apply(
            session,
            [
                Transfer(
                    id=hold,
                    kind="pending",
                    debit=system_account("referral_rewards"),
                    credit=user_account(bob.id),
                    asset="VIBE",
                    amount=50,
                    code="test_hold",  # not a referral reward: those come with their event
                )
                for hold in holds
            ],
        )
    async with db.service() as session:
        await apply(session, [ResolveHold(id=uuid4(), pending_id=holds[0], kind="void")])
    async with db.service() as session:
        await apply(session, [ResolveHold(id=uuid4(), pending_id=holds[1], kind="post")])
    events = [(kind, data) for user, kind, data in await _events(db) if user == bob.id]
    assert [kind for kind, _ in events] == [
        "transfer",
        "transfer",
        "transfer",
        "transfer",
        "balance",
    ]
    assert [data["kind"] for _, data in events[:4]] == ["pending", "pending", "void", "post"]
    assert events[4][1] == {"asset": "VIBE", "available": "50", "pending": "0", "posted": "50"}


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
async def listening(
    owner_url: str, hub: EventHub, *, gap_seconds: float = 2.0
) -> AsyncIterator[EventListener]:
    listener = EventListener(
        asyncpg_dsn(app_url_from_owner(owner_url)),
        hub,
        server_settings={"role": "gv_service", "application_name": "rt-test-listener"},
        poll_seconds=0.1,
        gap_seconds=gap_seconds,
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
        got_ann = await _receive(anns, 5)
        got_bob = await _receive(bobs, 3)
    assert [(e.channel, e.type, e.data.get("direction")) for e in got_ann] == [
        ("user", "transfer", "in"),
        ("user", "balance", None),
        ("user", "transfer", "out"),
        ("user", "balance", None),
        ("announcements", "announcement", None),
    ]
    assert [(e.channel, e.type, e.data.get("direction")) for e in got_bob] == [
        ("user", "transfer", "in"),
        ("user", "balance", None),
        ("announcements", "announcement", None),
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
        assert len(await _receive(subscriber, 2)) == 2  # the transfer and the new balance
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
        got = await _receive(subscriber, 10)
        assert listener.reconnects >= 1
    assert len({e.id for e in got}) == 10
    assert [e.id for e in got] == sorted(e.id for e in got)


async def _has_read(listener: EventListener, event_id: int) -> None:
    """Until the listener's reads have reached `event_id` (whether or not it went out)."""
    async with asyncio.timeout(DEADLINE):
        while listener._top < event_id:
            await asyncio.sleep(0.02)
    # One more full read after it, so a wrong hand-over would have happened by now.
    reads = listener.reads
    async with asyncio.timeout(DEADLINE):
        while listener.reads < reads + 2:
            await asyncio.sleep(0.02)


async def test_an_id_committed_after_a_higher_one_goes_out_first_and_the_cursor_waits(
    owner_url: str, db: Database
) -> None:
    """The late-commit gap: `late` is visible while `early` is uncommitted. Handing `late`
    over would move the client's cursor past `early`, so a drop now and a resume from the
    cursor would lose `early`. The listener holds `late` back, and so does the resume bound."""
    hub = EventHub()
    ann = await make_user(db)
    # A long gap time-out: what releases `late` below is the proof, not a timer.
    async with listening(owner_url, hub, gap_seconds=60) as listener:
        subscriber = hub.subscribe(ann.id)
        subscriber.release()
        async with db.service() as slow:
            early = await publish(slow, "user", "note", {"n": 1}, user_id=ann.id)
            async with db.service() as fast:
                late = await publish(fast, "user", "note", {"n": 2}, user_id=ann.id)
            assert early < late
            await _has_read(listener, late)
            assert subscriber.queue.empty()
            assert hub.last_event_id < early
            async with db.service() as session:
                resumed = await events_after(session, ann.id, 0, hub.last_event_id)
            assert resumed is not None and late not in [e.id for e in resumed]
        assert [e.id for e in await _receive(subscriber, 2)] == [early, late]
        assert hub.last_event_id >= late and listener.passed_over == 0


async def test_an_id_rolled_back_releases_the_ones_above_it_without_a_time_out(
    owner_url: str, db: Database
) -> None:
    hub = EventHub()
    ann = await make_user(db)
    async with listening(owner_url, hub, gap_seconds=60) as listener:
        subscriber = hub.subscribe(ann.id)
        subscriber.release()
        with contextlib.suppress(RuntimeError):
            async with db.service() as slow:
                await publish(slow, "user", "note", {"n": 1}, user_id=ann.id)
                async with db.service() as fast:
                    late = await publish(fast, "user", "note", {"n": 2}, user_id=ann.id)
                await _has_read(listener, late)
                assert subscriber.queue.empty()
                raise RuntimeError("roll back")
        assert [e.id for e in await _receive(subscriber, 1)] == [late]
        assert listener.passed_over == 0


async def test_many_concurrent_transfers_reach_a_subscriber_in_id_order_each_once(
    owner_url: str, db: Database
) -> None:
    hub = EventHub(max_pending=10_000)
    users = [await make_user(db) for _ in range(8)]
    for user in users:
        await fund(db, user.id, 1_000)
    funded_through = max(await _ids(db))
    async with listening(owner_url, hub, gap_seconds=60) as listener:
        watched = hub.subscribe(users[0].id)
        watched.release()
        everyone = hub.subscribe(uuid4())  # sees only events for everyone: none here
        everyone.release()

        async def pay(n: int) -> None:
            for k in range(1, 8):
                await _send(db, users[n].id, users[(n + k) % 8].id, 1)

        await asyncio.gather(*(pay(n) for n in range(8)))
        async with db.service() as session:
            expected = await events_after(session, users[0].id, 0, _ALL)
        assert expected is not None
        mine = [e for e in expected if e.id > funded_through]
        got = await _receive(watched, len(mine))
        assert listener.passed_over == 0
    assert [e.id for e in got] == [e.id for e in mine]
    assert everyone.queue.empty()
    await assert_invariants(owner_url)


async def test_resume_reads_the_users_stream_until_it_was_purged(
    owner_url: str, db: Database
) -> None:
    ann, bob = await make_user(db), await make_user(db)
    await fund(db, ann.id, 10)
    await fund(db, bob.id, 10)
    async with db.service() as session:
        stream = await events_after(session, ann.id, 0, _ALL)
        assert stream is not None and [(e.user_id, e.type) for e in stream] == [
            (ann.id, "transfer"),
            (ann.id, "balance"),
        ]
        assert await events_after(session, ann.id, stream[-1].id, _ALL) == []
    assert await purge_events(db, 3600) == 0
    owner = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        await owner.execute("UPDATE ops.events SET created_at = now() - interval '2 h'")
    finally:
        await owner.close()
    assert await purge_events(db, 3600) == 4
    async with db.service() as session:
        assert await events_after(session, ann.id, 0, _ALL) is None
        assert await events_after(session, ann.id, stream[-1].id + 5, _ALL) == []


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


def test_a_language_targeted_announcement_reaches_only_that_languages_sockets() -> None:
    hub = EventHub()
    english, russian = hub.subscribe(uuid4(), "en"), hub.subscribe(uuid4(), "ru")
    for subscriber in (english, russian):
        subscriber.release()
    hub.dispatch(
        [
            Event(1, None, "announcements", "announcement", {"language": "ru"}, _NOW),
            Event(2, None, "announcements", "announcement", {"language": None}, _NOW),
        ]
    )
    assert [e.id for e in _drain(english)] == [2]
    assert [e.id for e in _drain(russian)] == [1, 2]
    # A replay is filtered the same way.
    late = hub.subscribe(uuid4(), "en")
    late.release([Event(1, None, "announcements", "announcement", {"language": "ru"}, _NOW)])
    assert _drain(late) == []


def _drain(subscriber: Subscriber) -> list[Event]:
    items = [subscriber.queue.get_nowait() for _ in range(subscriber.queue.qsize())]
    return [item for item in items if isinstance(item, Event)]
