"""Buttons no handler takes (forged, stale or from an old keyboard): answered, never left
spinning, never an exception."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from services.i18n import Translator


async def unknown_button(query: CallbackQuery, t: Translator | None = None) -> None:
    await query.answer(t("error.unknown_button") if t is not None else None)


def build_router() -> Router:
    router = Router(name="fallback")
    router.callback_query.register(unknown_button)
    return router
