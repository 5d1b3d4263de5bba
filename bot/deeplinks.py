"""`/start <payload>` routing: each capability owns a payload prefix (`ref_`, `gift_`, `promo_`).

The bot only splits the payload; what it means belongs to the capability's service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from db.database import Database
from db.models import User


@dataclass(frozen=True)
class DeepLinkContext:
    db: Database
    user: User
    is_new_user: bool
    value: str


# Returns the i18n key (and params) of a message to show, or None for nothing extra.
DeepLinkReply = tuple[str, dict[str, object]] | None
DeepLinkHandler = Callable[[DeepLinkContext], Awaitable[DeepLinkReply]]


@dataclass
class DeepLinks:
    handlers: dict[str, DeepLinkHandler] = field(default_factory=dict)

    def register(self, prefix: str, handler: DeepLinkHandler) -> None:
        if not prefix.endswith("_"):
            raise ValueError("a deep-link prefix ends with '_'")
        self.handlers[prefix] = handler

    def resolve(self, payload: str) -> tuple[DeepLinkHandler, str] | None:
        for prefix, handler in self.handlers.items():
            if payload.startswith(prefix) and len(payload) > len(prefix):
                return handler, payload[len(prefix) :]
        return None
