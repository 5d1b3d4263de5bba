from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from db.database import Database
from db.models import User
from services.i18n import SUPPORTED_LANGUAGES, Catalog, Translator
from services.users.service import set_language


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


def language_keyboard(catalog: Catalog) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=catalog.get(code, "language.name"), callback_data=LanguageChoice(code=code).pack()
        )
        for code in SUPPORTED_LANGUAGES
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


async def choose_language(message: Message, t: Translator, catalog: Catalog) -> None:
    await message.answer(t("language.choose"), reply_markup=language_keyboard(catalog))


async def language_chosen(
    query: CallbackQuery, callback_data: LanguageChoice, user: User, db: Database, catalog: Catalog
) -> None:
    async with db.user(user.id) as session:
        await set_language(session, user.id, callback_data.code)
    done = catalog.get(callback_data.code, "language.set")
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(done)


def build_router() -> Router:
    router = Router(name="language")
    router.message.register(choose_language, Command("language"))
    router.callback_query.register(
        language_chosen, LanguageChoice.filter(F.code.in_(SUPPORTED_LANGUAGES))
    )
    return router
