"""Every update from a person resolves to one auth.users row before any handler runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update
from aiogram.types import User as TelegramUser

from bot.deeplinks import start_payload_of
from bot.middlewares.refusal import tell
from db.database import Database
from services.errors import ValidationError
from services.i18n import Catalog
from services.users.schemas import Origin, profile_of
from services.users.service import (
    OnCreated,
    effective_language,
    language_for,
    resolve_telegram_user,
)


class IdentityMiddleware(BaseMiddleware):
    """Puts `user`, `is_new_user` and a translator `t` into the handler data."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        admin_ids: frozenset[int],
        on_created: Sequence[OnCreated] = (),
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._admin_ids = admin_ids
        self._on_created = on_created

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender: TelegramUser | None = data.get("event_from_user")
        if sender is None or sender.is_bot:
            return await handler(event, data)
        try:
            profile = profile_of(sender)
        except ValidationError:
            # Nothing of a profile we refuse reaches the database; the person is told why.
            text = self._catalog.get(
                language_for(None, sender.language_code), "error.invalid_profile"
            )
            await tell(event, text)
            return None
        # A first contact through a deep link (`/start ref_abc`) carries its payload to user
        # creation; for a known user the payload is the routers' business.
        payload = await start_payload_of(event, data["bot"]) if isinstance(event, Update) else None
        registration = await resolve_telegram_user(
            self._db,
            profile,
            admin_ids=self._admin_ids,
            origin=Origin.bot(payload),
            on_created=self._on_created,
        )
        data["user"] = registration.user
        data["is_new_user"] = registration.created
        data["t"] = self._catalog.translator(effective_language(registration.user))
        return await handler(event, data)
