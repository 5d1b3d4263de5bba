"""What purchases need from Telegram, owned here and implemented by an adapter
(`integrations/telegram/stars.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from services.purchases.schemas import StarsTransaction


class StarsGateway(Protocol):
    async def invoice_link(self, *, title: str, description: str, payload: str, stars: int) -> str:
        """A link for `Telegram.WebApp.openInvoice`. Raises StarsUnavailable when Telegram
        cannot be reached."""
        ...

    async def refund(self, *, telegram_id: int, charge_id: str) -> None:
        """Refund the Stars of a payment; a charge already refunded is done, not an error.
        Raises RefundFailed."""
        ...

    async def bot_username(self) -> str:
        """The bot's @username, for links. Raises TelegramUnavailable when Telegram cannot be
        reached."""
        ...

    async def transactions(self, *, offset: int, limit: int) -> Sequence[StarsTransaction]:
        """The bot's Star transactions, oldest first, skipping `offset` of them (at most
        `limit`, 1-100). Raises StarsUnavailable when Telegram cannot be reached."""
        ...
