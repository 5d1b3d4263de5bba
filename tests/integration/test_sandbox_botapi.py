"""The local Bot API server answers as Telegram does, for raw HTTP clients and for aiogram."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from sandbox.botapi import BotApiServer
from tests import telegram
from tests.telegram import TOKEN, tg_user

# The shared fixtures, bound here so pytest finds them for this module.
botapi = telegram.botapi
bot = telegram.bot

Call = tuple[int, dict[str, Any]]


def tiny_png(width: int = 3, height: int = 2) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, base: str, method: str, **params: Any) -> Call:
    async with http.post(f"{base}/bot{TOKEN}/{method}", json=params) as response:
        return response.status, await response.json()


# --- reply and error shapes ------------------------------------------------------------------


async def test_get_me_and_unknown_method_and_wrong_token(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    api, base = botapi
    status, body = await call(http, base, "getMe")
    assert status == 200 and body["ok"] is True
    assert body["result"]["id"] == api.bot_id and body["result"]["is_bot"] is True
    assert await call(http, base, "noSuchMethod") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    async with http.get(f"{base}/bot1:wrong/getMe") as response:
        assert response.status == 401
        assert await response.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }


async def test_methods_are_case_insensitive_and_accept_query_form_and_json(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    _, base = botapi
    async with http.get(f"{base}/bot{TOKEN}/getme") as response:
        assert (await response.json())["ok"] is True
    form = {"chat_id": "5", "text": "[not json]", "reply_markup": '{"inline_keyboard": []}'}
    async with http.post(f"{base}/bot{TOKEN}/sendMessage", data=form) as response:
        body = await response.json()
    assert body["result"]["text"] == "[not json]"


async def test_send_message_shapes_html_entities_and_keyboards(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    api, base = botapi
    keyboard = {"inline_keyboard": [[{"text": "Open", "web_app": {"url": "http://x/app/"}}]]}
    status, body = await call(
        http,
        base,
        "sendMessage",
        chat_id=7,
        text="<b>Hi</b> 👋 <a href='http://x'>you</a>",
        parse_mode="HTML",
        reply_markup=keyboard,
    )
    message = body["result"]
    assert status == 200 and message["text"] == "Hi 👋 you"
    assert message["entities"] == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "url": "http://x", "offset": 6, "length": 3},
    ]
    assert message["reply_markup"] == keyboard and message["chat"] == {"id": 7, "type": "private"}
    reply = {"keyboard": [[{"text": "/balance"}]], "resize_keyboard": True}
    _, body = await call(http, base, "sendMessage", chat_id=7, text="pick", reply_markup=reply)
    assert "reply_markup" not in body["result"] and api.state.chat(7).reply_keyboard == reply
    assert await call(http, base, "sendMessage", chat_id=7, text="<b>open", parse_mode="HTML") == (
        400,
        {
            "ok": False,
            "error_code": 400,
            "description": "Bad Request: can't parse entities: Can't find end tag \"b\"",
        },
    )
    status, body = await call(http, base, "sendMessage", chat_id=7, text=" ")
    assert (status, body["description"]) == (400, "Bad Request: message text is empty")
    status, body = await call(http, base, "sendMessage", text="no chat")
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    status, body = await call(http, base, "sendMessage", chat_id="@nobody", text="x")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    status, body = await call(http, base, "getUpdates", offset="soon")
    assert status == 400 and body["description"].startswith("Bad Request: invalid parameters")


async def test_edit_and_delete_follow_the_chat(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    api, base = botapi
    _, sent = await call(http, base, "sendMessage", chat_id=8, text="one")
    message_id = sent["result"]["message_id"]
    _, edited = await call(
        http, base, "editMessageText", chat_id=8, message_id=message_id, text="two"
    )
    assert edited["result"]["text"] == "two" and "edit_date" in edited["result"]
    status, again = await call(
        http, base, "editMessageText", chat_id=8, message_id=message_id, text="two"
    )
    assert status == 400 and again["description"].startswith("Bad Request: message is not modified")
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "y"}]]}
    _, marked = await call(
        http, base, "editMessageReplyMarkup", chat_id=8, message_id=message_id, reply_markup=markup
    )
    assert marked["result"]["reply_markup"] == markup
    assert (await call(http, base, "deleteMessage", chat_id=8, message_id=message_id))[1][
        "result"
    ] is True
    assert api.state.chat(8).messages == []
    assert (await call(http, base, "sendChatAction", chat_id=8, action="typing"))[1][
        "result"
    ] is True


async def test_webhook_and_commands(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    _, base = botapi
    assert (await call(http, base, "setWebhook", url="https://h/x"))[1]["result"] is True
    status, body = await call(http, base, "getUpdates")
    assert status == 409 and body["description"].startswith("Conflict: can't use getUpdates")
    assert (await call(http, base, "deleteWebhook"))[1]["result"] is True
    commands = [{"command": "start", "description": "Start"}]
    assert (await call(http, base, "setMyCommands", commands=commands))[1]["result"] is True
    assert (await call(http, base, "getMyCommands"))[1]["result"] == commands


async def test_commands_are_kept_per_scope_and_language(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    api, base = botapi
    default = [{"command": "start", "description": "Start"}]
    russian = [{"command": "start", "description": "Начать"}]
    private = [{"command": "help", "description": "Help"}]
    mine = [{"command": "admin", "description": "Admin"}]
    await call(http, base, "setMyCommands", commands=default)
    await call(http, base, "setMyCommands", commands=russian, language_code="ru")
    await call(http, base, "setMyCommands", commands=private, scope={"type": "all_private_chats"})
    await call(http, base, "setMyCommands", commands=mine, scope={"type": "chat", "chat_id": 77})

    async def get(**params: Any) -> Any:
        return (await call(http, base, "getMyCommands", **params))[1]["result"]

    # A scoped list does not replace the default one; each (scope, language) is its own list.
    assert await get() == default
    assert await get(scope={"type": "default"}) == default
    assert await get(language_code="ru") == russian
    assert await get(scope={"type": "all_private_chats"}) == private
    assert await get(scope={"type": "chat", "chat_id": "77"}) == mine
    assert await get(scope={"type": "chat", "chat_id": 78}) == []
    # The menu a person sees: their chat's list first, then all private chats, then default.
    assert api.private_chat_commands(77, "ru") == mine
    assert api.private_chat_commands(78, "ru") == private
    await call(http, base, "deleteMyCommands", scope={"type": "all_private_chats"})
    assert await get(scope={"type": "all_private_chats"}) == []
    assert await get() == default
    assert api.private_chat_commands(78, "ru") == russian
    assert api.private_chat_commands(78, "en") == default
    status, body = await call(http, base, "getMyCommands", scope={"type": "galaxy"})
    assert status == 400 and body["ok"] is False


async def test_private_chat_names_the_person(botapi: tuple[BotApiServer, str], bot: Bot) -> None:
    api, _ = botapi
    ann = tg_user(61, "Ann", last_name="Lee", username="ann_l")
    update = await api.user_sends(ann, "hi")
    assert update["message"]["chat"] == {
        "id": 61,
        "type": "private",
        "first_name": "Ann",
        "last_name": "Lee",
        "username": "ann_l",
    }
    sent = await bot.send_message(61, "hello")
    assert (sent.chat.first_name, sent.chat.last_name, sent.chat.username) == (
        "Ann",
        "Lee",
        "ann_l",
    )


# --- failure injection ----------------------------------------------------------------------


async def test_injected_failures_have_telegrams_shapes(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    api, base = botapi
    api.fail_too_many_requests("sendMessage", 7)
    assert await call(http, base, "sendMessage", chat_id=1, text="x") == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        },
    )
    api.fail_blocked("sendMessage", 2, times=1)
    assert (await call(http, base, "sendMessage", chat_id=2, text="x"))[1] == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    api.fail_chat_not_found("sendMessage", 3)
    assert (await call(http, base, "sendMessage", chat_id=3, text="x"))[1]["description"] == (
        "Bad Request: chat not found"
    )
    assert (await call(http, base, "sendMessage", chat_id=3, text="x"))[0] == 200


async def test_aiogram_raises_its_typed_errors(botapi: tuple[BotApiServer, str], bot: Bot) -> None:
    api, _ = botapi
    api.fail_too_many_requests("sendMessage", 3)
    with pytest.raises(TelegramRetryAfter) as retry:
        await bot.send_message(1, "x")
    assert retry.value.retry_after == 3
    api.fail_blocked("sendMessage", 1, times=1)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(1, "x")
    api.fail_chat_not_found("sendMessage", 1)
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(1, "x")


# --- getUpdates -----------------------------------------------------------------------------


async def test_get_updates_offset_and_long_poll(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    api, base = botapi
    ann = tg_user(11)
    first = await api.user_sends(ann, "/start")
    second = await api.user_sends(ann, "hello")
    _, body = await call(http, base, "getUpdates", limit=1)
    assert [u["update_id"] for u in body["result"]] == [first["update_id"]]
    _, body = await call(http, base, "getUpdates")
    assert [u["update_id"] for u in body["result"]] == [first["update_id"], second["update_id"]]
    _, body = await call(http, base, "getUpdates", offset=second["update_id"])
    assert [u["update_id"] for u in body["result"]] == [second["update_id"]]
    _, body = await call(http, base, "getUpdates")  # the offset confirmed everything before it
    assert [u["update_id"] for u in body["result"]] == [second["update_id"]]

    waiting = asyncio.create_task(
        call(http, base, "getUpdates", offset=second["update_id"] + 1, timeout=5)
    )
    await asyncio.sleep(0.2)
    assert not waiting.done()
    third = await api.user_sends(ann, "later")
    _, body = await asyncio.wait_for(waiting, 3)
    assert [u["update_id"] for u in body["result"]] == [third["update_id"]]
    assert body["result"][0]["message"]["text"] == "later"
    _, body = await call(http, base, "getUpdates", offset=third["update_id"] + 1, timeout=0.3)
    assert body["result"] == []


# --- files ------------------------------------------------------------------------------------


async def test_upload_reuse_get_file_and_download(
    botapi: tuple[BotApiServer, str], bot: Bot, http: aiohttp.ClientSession
) -> None:
    _, base = botapi
    png = tiny_png(3, 2)
    sent = await bot.send_photo(21, BufferedInputFile(png, "pic.png"), caption="<i>look</i>")
    assert sent.caption == "look" and sent.caption_entities is not None
    assert sent.photo is not None and (sent.photo[-1].width, sent.photo[-1].height) == (3, 2)
    photo_id = sent.photo[-1].file_id
    again = await bot.send_photo(22, photo_id)
    assert again.photo is not None and again.photo[-1].file_id == photo_id
    info = await bot.get_file(photo_id)
    assert info.file_size == len(png) and info.file_path
    async with http.get(f"{base}/file/bot{TOKEN}/{info.file_path}") as response:
        assert response.status == 200 and await response.read() == png
    async with http.get(f"{base}/file/bot{TOKEN}/nothing/here.png") as response:
        assert response.status == 404

    audio = await bot.send_audio(
        21, BufferedInputFile(b"ID3audio", "song.mp3"), duration=3, title="Song"
    )
    assert audio.audio is not None and audio.audio.duration == 3 and audio.audio.title == "Song"
    video = await bot.send_video(
        21, BufferedInputFile(b"\x00\x00video", "clip.mp4"), width=4, height=2
    )
    assert video.video is not None and (video.video.width, video.video.height) == (4, 2)
    document = await bot.send_document(21, BufferedInputFile(b"%PDF-1", "doc.pdf"))
    assert document.document is not None and document.document.file_name == "doc.pdf"
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_document(21, "not-a-file-id")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("not-a-file-id")


async def test_raw_multipart_upload_without_attach(
    botapi: tuple[BotApiServer, str], http: aiohttp.ClientSession
) -> None:
    _, base = botapi
    form = aiohttp.FormData()
    form.add_field("chat_id", "5")
    form.add_field("document", b"hello", filename="hello.txt", content_type="text/plain")
    async with http.post(f"{base}/bot{TOKEN}/sendDocument", data=form) as response:
        body = await response.json()
    assert body["result"]["document"]["mime_type"] == "text/plain"
    assert body["result"]["document"]["file_size"] == 5


# --- the real aiogram bot driving the server ------------------------------------------------


async def test_aiogram_polls_answers_callbacks_and_sends_keyboards(
    botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    api, _ = botapi
    dp = Dispatcher()

    @dp.message(F.text == "/menu")
    async def menu(message: Message) -> None:
        await message.answer(
            "Menu",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(text="Tap", callback_data="tap"),
                        InlineKeyboardButton(
                            text="App", web_app=WebAppInfo(url="http://127.0.0.1/app/")
                        ),
                    ]
                ]
            ),
        )
        await message.answer(
            "Keys", reply_markup=ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="/menu")]])
        )

    @dp.callback_query(F.data == "tap")
    async def tapped(query: Any) -> None:
        await query.answer("Tapped!")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        ann = tg_user(31)
        await api.user_sends(ann, "/menu")
        for _ in range(100):
            if len(api.calls_of("sendMessage")) >= 2:
                break
            await asyncio.sleep(0.05)
        log = api.state.chat(31)
        menu_message = next(m for m in log.messages if m.get("text") == "Menu")
        assert (
            menu_message["reply_markup"]["inline_keyboard"][0][1]["web_app"]["url"]
            == "http://127.0.0.1/app/"
        )
        assert log.reply_keyboard is not None
        await api.user_presses(ann, menu_message, "tap")
        for _ in range(100):
            if log.notices:
                break
            await asyncio.sleep(0.05)
        assert log.notices[-1]["text"] == "Tapped!" and log.notices[-1]["kind"] == "toast"
    finally:
        await dp.stop_polling()
        await polling


async def test_stars_invoice_pre_checkout_payment_and_refund(
    botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    api, _ = botapi
    dp = Dispatcher()
    paid: list[Message] = []

    @dp.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        if query.invoice_payload == "sold-out":
            await query.answer(ok=False, error_message="Sold out, sorry")
        else:
            await query.answer(ok=True)

    @dp.message(F.successful_payment)
    async def on_paid(message: Message) -> None:
        paid.append(message)

    ann = tg_user(41)
    sent = await bot.send_invoice(
        41,
        title="Pack",
        description="100 credits",
        payload="pack-100",
        currency="XTR",
        prices=[LabeledPrice(label="Pack", amount=50)],
    )
    assert (
        sent.invoice is not None
        and sent.invoice.total_amount == 50
        and sent.invoice.currency == "XTR"
    )
    link = await bot.create_invoice_link(
        title="Sold",
        description="Gone",
        payload="sold-out",
        currency="XTR",
        prices=[LabeledPrice(label="Sold", amount=5)],
    )
    assert link.startswith("https://t.me/$")
    with pytest.raises(TelegramBadRequest, match="STARS_INVOICE_INVALID"):
        await bot.send_invoice(
            41,
            title="Two",
            description="prices",
            payload="p",
            currency="XTR",
            prices=[LabeledPrice(label="a", amount=1), LabeledPrice(label="b", amount=1)],
        )

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1)
    )
    try:
        slug = api.state.chat(41).messages[-1]["sandbox_invoice_slug"]
        outcome = await api.user_pays(ann, slug)
        assert outcome.status == "paid" and outcome.charge_id
        declined = await api.user_pays(ann, link.removeprefix("https://t.me/$"))
        assert (declined.status, declined.error_message) == ("declined", "Sold out, sorry")
        for _ in range(100):
            if paid:
                break
            await asyncio.sleep(0.05)
    finally:
        await dp.stop_polling()
        await polling

    [payment] = [m.successful_payment for m in paid]
    assert payment is not None
    assert (payment.currency, payment.total_amount, payment.invoice_payload) == (
        "XTR",
        50,
        "pack-100",
    )
    assert payment.telegram_payment_charge_id == outcome.charge_id
    assert await bot.refund_star_payment(41, outcome.charge_id) is True
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(41, outcome.charge_id)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(41, "nope")
    refunds = [m for m in api.state.chat(41).messages if "refunded_payment" in m]
    assert refunds[0]["refunded_payment"]["telegram_payment_charge_id"] == outcome.charge_id
    with pytest.raises(TelegramBadRequest, match="query ID is invalid"):
        await bot.answer_pre_checkout_query("unknown", ok=True)


async def test_unanswered_pre_checkout_times_out(
    botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    api, _ = botapi
    api.pre_checkout_timeout = 0.2
    await bot.send_invoice(
        42,
        title="T",
        description="D",
        payload="p",
        currency="XTR",
        prices=[LabeledPrice(label="x", amount=1)],
    )
    slug = api.state.chat(42).messages[-1]["sandbox_invoice_slug"]
    outcome = await api.user_pays(tg_user(42), slug)
    assert outcome.status == "timeout"
    assert [u for u in api.updates if "pre_checkout_query" in u]
    assert not api.state.payments


async def test_a_person_blocking_the_bot_gets_403_and_my_chat_member(
    botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    api, _ = botapi
    ann = tg_user(51)
    update = await api.user_blocks(ann, True)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    assert update["my_chat_member"]["old_chat_member"]["status"] == "member"
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(51, "hello?")
    with pytest.raises(TelegramForbiddenError):
        await bot.send_document(51, BufferedInputFile(b"x", "x.txt"))
    await bot.send_message(52, "others still get messages")
    update = await api.user_blocks(ann, False)
    assert update["my_chat_member"]["new_chat_member"]["status"] == "member"
    assert (await bot.send_message(51, "welcome back")).text == "welcome back"


async def test_markdown_parse_modes_become_entities_for_aiogram(
    botapi: tuple[BotApiServer, str], bot: Bot
) -> None:
    sent = await bot.send_message(71, "*Hi* _there_ \\(v1\\.0\\)", parse_mode="MarkdownV2")
    assert sent.text == "Hi there (v1.0)"
    assert [(x.type, x.offset, x.length) for x in sent.entities or []] == [
        ("bold", 0, 2),
        ("italic", 3, 5),
    ]
    legacy = await bot.send_message(71, "*old* [link](https://t.me/x)", parse_mode="Markdown")
    assert legacy.text == "old link" and legacy.entities is not None
    assert legacy.entities[1].type == "text_link" and legacy.entities[1].url == "https://t.me/x"
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(71, "v1.0", parse_mode="MarkdownV2")
    photo = await bot.send_photo(
        71, BufferedInputFile(tiny_png(), "p.png"), caption="__u__", parse_mode="MarkdownV2"
    )
    assert photo.caption == "u" and photo.caption_entities is not None
    assert photo.caption_entities[0].type == "underline"
