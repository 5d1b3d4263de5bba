"""Events as the log stores them, and the WebSocket protocol's messages (for its JSON Schemas)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["user", "announcements"]
# Event ids are PostgreSQL `bigint`s: a resume cursor above this names no event.
MAX_EVENT_ID = 2**63 - 1
# The LISTEN channel `publish` notifies with the new event's id (the ledger's events are polled).
NOTIFY_CHANNEL = "gv_events"


@dataclass(frozen=True)
class Event:
    """One row of `ops.events`. `user_id` None: an event for everyone."""

    id: int
    user_id: UUID | None
    channel: str
    type: str
    data: dict[str, Any]
    created_at: datetime

    @cached_property
    def wire(self) -> str:
        """The message a client receives, encoded once however many sockets it goes to."""
        return json.dumps(
            {
                "id": self.id,
                "channel": self.channel,
                "type": self.type,
                "data": self.data,
                "ts": self.created_at.isoformat(),
            },
            separators=(",", ":"),
        )


def event_of(row: Sequence[Any]) -> Event:
    id_, user_id, channel, type_, data, created_at = row
    return Event(
        id=id_,
        user_id=user_id,
        channel=channel,
        type=type_,
        data=data if isinstance(data, dict) else json.loads(data),
        created_at=created_at,
    )


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AuthMessage(_Message):
    """Client → server, the first message: the Mini App's `Telegram.WebApp.initData`."""

    type: Literal["auth"]
    initData: str = Field(min_length=1, max_length=8192)


class ResumeMessage(_Message):
    """Client → server, right after `ready`: replay every event after `after`, then live.
    An `after` outside 0..2**63-1 (no event id can be) is answered `resync`."""

    type: Literal["resume"]
    after: int = Field(ge=0, le=MAX_EVENT_ID)


class PingMessage(_Message):
    """Client → server: answered with `pong` (WebSocket ping frames work too)."""

    type: Literal["ping"]


class ReadyMessage(_Message):
    """Server → client after a good `auth`: the newest event id this instance has seen."""

    type: Literal["ready"]
    last_event_id: int


class ResyncMessage(_Message):
    """Server → client: `after` is older than the retention; reload the state over REST."""

    type: Literal["resync"]


class PongMessage(_Message):
    type: Literal["pong"]


class TransferData(_Message):
    """`data` of a `transfer` event on the `user` channel. Amounts are integer strings."""

    transfer_id: UUID
    kind: Literal["single", "pending", "post", "void", "expire"]
    direction: Literal["in", "out"]
    asset: str
    amount: str
    code: str


class BalanceData(_Message):
    """`data` of a `balance` event on the `user` channel: the wallet after the change
    (integers in the asset's smallest unit; its decimals come from `GET /api/v1/assets`)."""

    asset: str
    available: str
    pending: str
    posted: str


class AnnouncementButton(_Message):
    text: str
    url: str


class AnnouncementData(_Message):
    """`data` of an `announcement` event on the `announcements` channel. `html` is Telegram
    HTML; `language` None: for every language."""

    announcement_id: UUID
    html: str
    button: AnnouncementButton | None
    language: str | None


class EventMessage(_Message):
    """Server → client: one event; ids increase along the client's stream."""

    id: int
    channel: Channel
    type: str
    data: dict[str, Any]
    ts: datetime


PROTOCOL_MESSAGES: tuple[type[BaseModel], ...] = (
    AuthMessage,
    ResumeMessage,
    PingMessage,
    ReadyMessage,
    ResyncMessage,
    PongMessage,
    EventMessage,
    TransferData,
    BalanceData,
    AnnouncementData,
)
