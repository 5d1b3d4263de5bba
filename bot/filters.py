"""Filters on who sends the update, for routers and handlers (`router.message.filter(...)`)."""

from __future__ import annotations

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from db.models import User
from services.users.access import is_admin


class IsAdmin(Filter):
    """The sender's user (put in by IdentityMiddleware) has the admin role."""

    async def __call__(self, event: TelegramObject, user: User | None = None) -> bool:
        return user is not None and is_admin(user)
