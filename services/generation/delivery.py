"""What the worker needs from a chat: the protocol, implemented by the bot's adapter."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Finished:
    job_id: UUID
    chat_id: int
    user_id: UUID
    kind: str
    status: str
    prompt: str
    model: str
    files: tuple[tuple[Path, str], ...]
    error_code: str | None
    progress_message_id: int | None


class DeliveryDeferred(Exception):
    """Raised by a `ChatDelivery` when the chat cannot take the result yet (Telegram's 429,
    5xx, the network): the worker sends it again later, after `retry_after` when given."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChatDelivery(Protocol):
    async def working(self, chat_id: int, kind: str) -> None:
        """Tell the chat the bot is busy (sendChatAction)."""
        ...

    async def progress(
        self, chat_id: int, user_id: UUID, message_id: int, job_id: UUID, progress: int
    ) -> None: ...

    async def finished(self, job: Finished) -> None:
        """The result as media with again/cancel buttons, or why there is none."""
        ...
