"""Generation results in the chat: `sendChatAction` while working, the progress message edited,
the result as a photo / audio / animation with "again" and "cancel" buttons, or why not."""

from __future__ import annotations

import html
import logging
from uuid import UUID

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import FSInputFile, InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy import text

from bot.handlers.generation import JobAction
from services.generation.delivery import DeliveryDeferred, Finished
from services.generation.usecase import Generation
from services.i18n import Catalog

log = logging.getLogger(__name__)

_ACTIONS = {"image": "upload_photo", "music": "upload_voice", "video": "upload_video"}
_LANGUAGE = text("SELECT coalesce(language, language_code, 'en') FROM auth.users WHERE id = :id")


class BotChatDelivery:
    def __init__(self, bot: Bot, catalog: Catalog, generation: Generation) -> None:
        self._bot = bot
        self._catalog = catalog
        self._generation = generation

    async def _language(self, user_id: UUID) -> str:
        async with self._generation.db.service() as session:
            language = await session.scalar(_LANGUAGE, {"id": user_id})
        return str(language or "en")

    async def working(self, chat_id: int, kind: str) -> None:
        try:
            await self._bot.send_chat_action(chat_id, _ACTIONS.get(kind, "typing"))
        except (TelegramAPIError, TelegramNetworkError) as exc:
            log.info("chat action to %s failed: %s", chat_id, exc)

    async def progress(
        self, chat_id: int, user_id: UUID, message_id: int, job_id: UUID, progress: int
    ) -> None:
        t = self._catalog.translator(await self._language(user_id))
        try:
            await self._bot.edit_message_text(
                text=t("generation.progress", progress=progress),
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=_cancel_markup(t("generation.button_cancel"), job_id),
            )
        except (TelegramAPIError, TelegramNetworkError) as exc:
            log.info("progress edit in %s failed: %s", chat_id, exc)

    async def finished(self, job: Finished) -> None:
        """Raises `DeliveryDeferred` when Telegram is busy (429, 5xx, the network), so the worker
        sends it again later; a refusal (blocked, no such chat) is final."""
        t = self._catalog.translator(await self._language(job.user_id))
        try:
            if job.status != "succeeded":
                key = "generation.cancelled" if job.status == "cancelled" else "generation.failed"
                try:
                    reason = t(f"generation.reason.{job.error_code}")
                except KeyError:  # a code newer than the texts
                    reason = t("generation.reason.generation_failed")
                await self._bot.send_message(job.chat_id, t(key, reason=reason))
                return
            markup = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=t("generation.button_again"),
                            callback_data=f"gen:again:{job.job_id}",
                        )
                    ]
                ]
            )
            caption = html.escape(job.prompt[:900])
            for path, mime in job.files:
                media = FSInputFile(path)
                if mime.startswith("audio/"):
                    await self._bot.send_audio(
                        job.chat_id, media, caption=caption, reply_markup=markup
                    )
                elif mime == "image/gif" or mime.startswith("video/"):
                    await self._bot.send_animation(
                        job.chat_id, media, caption=caption, reply_markup=markup
                    )
                else:
                    await self._bot.send_photo(
                        job.chat_id, media, caption=caption, reply_markup=markup
                    )
        except TelegramRetryAfter as exc:
            raise DeliveryDeferred(exc.message, retry_after=float(exc.retry_after)) from exc
        except (TelegramNetworkError, TelegramServerError) as exc:
            raise DeliveryDeferred(str(exc)) from exc
        except TelegramAPIError as exc:
            log.info("generation %s: delivery refused: %s", job.job_id, exc)


def _cancel_markup(label: str, job_id: UUID) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=label, callback_data=JobAction(action="cancel", job=job_id).pack()
                )
            ]
        ]
    )
