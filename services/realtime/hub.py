"""This instance's subscribers, and the fan-out of each event to the ones allowed to see it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from uuid import UUID

from services.realtime.errors import TooManyConnections
from services.realtime.schemas import Event

# WebSocket close codes the protocol documents (README "Realtime").
SLOW_CONSUMER = 4009
GOING_AWAY = 1001


class Subscriber:
    """One socket's view of the stream: a bounded queue of events not yet sent.

    Until `release()` (the client's resume, or its first other message) live events are held
    back, so a resume's replay goes out before them and the stream stays in id order.

    A resume's cursor is what the client already has: this instance's listener may lag behind
    the one that sent it those events (it replays only up to its own `last_event_id`), and
    then hands them over live. They are dropped here, so each event reaches the client once.
    """

    def __init__(self, user_id: UUID, max_pending: int, language: str | None = None) -> None:
        self.user_id = user_id
        self.max_pending = max_pending
        # An event for everyone that names a language (a targeted announcement) reaches the
        # sockets of users reading that language only, live or replayed.
        self.language = language
        # Events, and the protocol's own replies (`pong`, `resync`) in their place in the stream.
        self.queue: asyncio.Queue[Event | str] = asyncio.Queue()
        self._held: list[Event] | None = []
        # Ids already queued for this socket: a replay and the live feed may both carry one.
        self._queued: set[int] = set()
        # The client's resume cursor: it has every event up to this id.
        self._after = 0
        self.close_code: int | None = None
        self.closed = asyncio.Event()

    def offer(self, event: Event) -> None:
        if self._held is not None:
            self._held.append(event)
            if len(self._held) > self.max_pending:
                self.close(SLOW_CONSUMER)
            return
        self._enqueue(event)

    def release(self, replay: Iterable[Event] = (), *, after: int = 0) -> None:
        """Queue `replay`, then whatever was held back, each id once, in id order; from now
        on no event up to `after` (the client's resume cursor) is queued."""
        self._after = max(self._after, after)
        held, self._held = self._held or [], None
        for event in sorted([*replay, *held], key=lambda e: e.id):
            self._enqueue(event)

    def _enqueue(self, event: Event) -> None:
        # Not a high-water mark of what was sent: an event the listener passed over and
        # finds late still goes out, below ids already sent.
        if event.id <= self._after or event.id in self._queued:
            return
        wanted = event.data.get("language") if event.user_id is None else None
        if wanted is not None and wanted != self.language:
            return
        if self.queue.qsize() >= self.max_pending:
            # The socket cannot keep up: closed with a code the client understands rather
            # than letting its backlog grow without bound.
            self.close(SLOW_CONSUMER)
            return
        self._queued.add(event.id)
        if len(self._queued) > 4 * self.max_pending:
            # Only recent ids can come twice (a replay overlapping the live feed).
            self._queued = set(sorted(self._queued)[-2 * self.max_pending :])
        self.queue.put_nowait(event)

    def reply(self, message: str) -> None:
        """A protocol message, sent after the events queued before it."""
        if self.queue.qsize() >= self.max_pending:
            self.close(SLOW_CONSUMER)
            return
        self.queue.put_nowait(message)

    def close(self, code: int) -> None:
        if self.close_code is None:
            self.close_code = code
        self.closed.set()


class EventHub:
    """Subscribers by user; `dispatch` gives each event to its user's sockets, or to every
    socket when it is for everyone. A user's events never reach another user's subscriber."""

    def __init__(self, *, max_per_user: int = 5, max_pending: int = 1_000) -> None:
        self.max_per_user = max_per_user
        self.max_pending = max_pending
        self._by_user: dict[UUID, set[Subscriber]] = {}
        # Every event up to this id was handed over (or will never exist): clients start after
        # it, and a resume reads the table up to it. Only the listener moves it.
        self.last_event_id = 0

    def subscribe(self, user_id: UUID, language: str | None = None) -> Subscriber:
        """Raises TooManyConnections over `max_per_user` sockets for this user."""
        subscribers = self._by_user.setdefault(user_id, set())
        if len(subscribers) >= self.max_per_user:
            raise TooManyConnections(self.max_per_user)
        subscriber = Subscriber(user_id, self.max_pending, language)
        subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._by_user.get(subscriber.user_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._by_user[subscriber.user_id]

    def counts(self) -> dict[UUID, int]:
        """Sockets per signed-in user on this instance."""
        return {user: len(subscribers) for user, subscribers in self._by_user.items()}

    def subscribers_of(self, user_id: UUID) -> list[Subscriber]:
        return list(self._by_user.get(user_id, ()))

    @property
    def connections(self) -> int:
        return sum(len(s) for s in self._by_user.values())

    def dispatch(self, events: Iterable[Event]) -> None:
        for event in events:
            if event.user_id is None:
                targets: Iterable[Subscriber] = [
                    s for subscribers in self._by_user.values() for s in subscribers
                ]
            else:
                targets = list(self._by_user.get(event.user_id, ()))
            for subscriber in targets:
                subscriber.offer(event)

    def close_all(self, code: int = GOING_AWAY) -> None:
        for subscribers in list(self._by_user.values()):
            for subscriber in list(subscribers):
                subscriber.close(code)
