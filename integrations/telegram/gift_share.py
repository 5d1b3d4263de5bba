"""`ShareGateway` through the Bot API: savePreparedInlineMessage (Bot API 8.0)."""

from __future__ import annotations

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
)

from services.gifts.errors import ShareUnavailable
from services.gifts.sharing import ShareMessage


def article(message: ShareMessage) -> InlineQueryResultArticle:
    button = InlineKeyboardButton(text=message.button, url=message.url)
    return InlineQueryResultArticle(
        id=message.id,
        title=message.title,
        description=message.description,
        input_message_content=InputTextMessageContent(message_text=message.text, parse_mode="HTML"),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
    )


class BotGiftShare:
    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def prepare(self, *, telegram_id: int, message: ShareMessage) -> str:
        try:
            prepared = await self._bot.save_prepared_inline_message(
                user_id=telegram_id,
                result=article(message),
                allow_user_chats=True,
                allow_bot_chats=True,
                allow_group_chats=True,
                allow_channel_chats=True,
            )
        except TelegramAPIError as exc:
            raise ShareUnavailable("Telegram did not prepare the message") from exc
        return prepared.id
