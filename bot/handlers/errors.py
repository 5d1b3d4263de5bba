"""Last line of defence: a domain error becomes its localized message, anything else a kind one."""

from __future__ import annotations

import logging

from aiogram import Router
from aiogram.types import ErrorEvent

from services.errors import DomainError
from services.i18n import Translator

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, t: Translator | None = None) -> bool:
    error = event.exception
    if isinstance(error, DomainError):
        key, params = f"error.{error.code}", dict(error.details)
    else:
        log.exception("unhandled error in update %s", event.update.update_id, exc_info=error)
        key, params = "error.generic", {}
    if t is None:
        return True
    try:
        text = t(key, **params)
    except KeyError:
        text = error.message if isinstance(error, DomainError) else t("error.generic")
    update = event.update
    if update.message is not None:
        await update.message.answer(text)
    elif update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    return True


def build_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
