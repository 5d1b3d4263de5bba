"""/announce (admins): the text with its formatting, an optional button and language, shown as
a preview, then confirmed or cancelled once; /announce_status: how the last one is going.

    /announce [en|ru]
    <the text, formatted as Telegram formats it>
    button: Label | https://example.com/page     (optional, the last line)
"""

from __future__ import annotations

import html
import re
from uuid import UUID

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.filters import IsAdmin
from db.database import Database
from db.models import User
from services.announcements.errors import InvalidAnnouncement
from services.announcements.service import Draft, cancel, confirm, create, latest_status
from services.i18n import Translator
from services.i18n.languages import SUPPORTED_LANGUAGES

_COMMAND = re.compile(r"^/announce(@\w+)?\s*", re.IGNORECASE)
_BUTTON = re.compile(r"\n\s*button:\s*(?P<label>[^|\n]+?)\s*\|\s*(?P<url>\S+)\s*$", re.IGNORECASE)


class AnnounceDecision(CallbackData, prefix="announce"):
    action: str
    announcement: UUID


def parse(message_html: str) -> Draft:
    """The draft in the command's message (`message.html_text`: Telegram's entities as HTML).
    Raises InvalidAnnouncement."""
    body = _COMMAND.sub("", message_html, count=1)
    language = None
    first, _, rest = body.partition("\n")
    words = first.split(maxsplit=1)
    if words and words[0].lower() in SUPPORTED_LANGUAGES:
        language = words[0].lower()
        body = ((words[1] + "\n") if len(words) > 1 else "") + rest
    button_text = button_url = None
    found = _BUTTON.search("\n" + body)
    if found is not None:
        button_text = html.unescape(found["label"]).strip()
        button_url = html.unescape(found["url"])
        body = ("\n" + body)[: found.start()]
    return Draft(body.strip(), button_text, button_url, language)


def _keyboard(t: Translator, draft: Draft, announcement: UUID) -> InlineKeyboardMarkup:
    def decision(key: str, action: str) -> InlineKeyboardButton:
        data = AnnounceDecision(action=action, announcement=announcement).pack()
        return InlineKeyboardButton(text=t(key), callback_data=data)

    rows = []
    if draft.button_text is not None and draft.button_url is not None:
        rows.append([InlineKeyboardButton(text=draft.button_text, url=draft.button_url)])
    rows.append(
        [decision("announce.confirm_button", "ok"), decision("announce.cancel_button", "no")]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


async def announce_command(message: Message, user: User, t: Translator, db: Database) -> None:
    try:
        draft = parse(message.html_text)
    except InvalidAnnouncement:
        await message.answer(t("announce.usage"))
        return
    async with db.service() as session:
        announcement, audience = await create(
            session,
            # The command message itself: a re-delivered update shows the same draft.
            source=f"{message.chat.id}:{message.message_id}",
            created_by=user.id,
            chat_id=message.chat.id,
            draft=draft,
        )
    await message.answer(t("announce.preview", audience=audience, lang=draft.language or "all"))
    await message.answer(draft.html, reply_markup=_keyboard(t, draft, announcement))


async def announce_confirmed(
    query: CallbackQuery, callback_data: AnnounceDecision, t: Translator, db: Database
) -> None:
    async with db.service() as session:
        await confirm(session, callback_data.announcement)
    await query.answer(t("announce.confirmed"))
    if isinstance(query.message, Message):
        await query.message.reply(t("announce.confirmed"))


async def announce_cancelled(
    query: CallbackQuery, callback_data: AnnounceDecision, t: Translator, db: Database
) -> None:
    async with db.service() as session:
        await cancel(session, callback_data.announcement)
    await query.answer(t("announce.cancelled"))
    if isinstance(query.message, Message):
        await query.message.reply(t("announce.cancelled"))


async def announce_status(message: Message, t: Translator, db: Database) -> None:
    async with db.service() as session:
        status = await latest_status(session)
    if status is None:
        await message.answer(t("announce.status_none"))
        return
    await message.answer(
        t(
            "announce.status",
            audience=status.audience,
            sent=status.sent,
            failed=status.failed,
            blocked=status.blocked,
            remaining=status.remaining,
        )
    )


def build_router() -> Router:
    router = Router(name="announce")
    router.message.filter(IsAdmin())
    router.callback_query.filter(IsAdmin())
    router.message.register(announce_status, Command("announce_status"))
    router.message.register(announce_command, Command("announce"))
    router.callback_query.register(announce_confirmed, AnnounceDecision.filter(F.action == "ok"))
    router.callback_query.register(announce_cancelled, AnnounceDecision.filter(F.action == "no"))
    return router
