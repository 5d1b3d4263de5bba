"""Local mode without a browser: the web chat's JSON acts as a person, the platform answers.

These run everywhere (no Chromium needed) and pin what the browser tests build on.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

import aiohttp
import pytest
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
)
from aiogram.utils.web_app_signature import check_webapp_signature as check_ed25519_signature
from pydantic import SecretStr

from app.run import Role, bot_client, http_config, wants_sandbox
from app.settings import load_settings
from bot.client import make_bot
from sandbox.initdata import KEY_FILE, load_signing_key, public_key_hex, sign_init_data
from sandbox.local import run_sandbox
from services.i18n import Catalog
from tests import localmode
from tests.localmode import LivePlatform
from webapp_api.initdata import verify_init_data
from webapp_api.miniapp import TELEGRAM_WEB_APP_JS

live = localmode.live


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def chat_until(
    http: aiohttp.ClientSession, base: str, user_id: int, pattern: str, *, seconds: float = 15
) -> list[dict[str, Any]]:
    """Reads the chat the way the page does (long poll on `version`) until a bot message matches."""
    version = -1
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        async with http.get(
            f"{base}/sandbox/api/chats/{user_id}", params={"version": version}
        ) as r:
            data = await r.json()
        version = data["version"]
        bot_texts = [m.get("text", "") for m in data["messages"] if m["from"]["is_bot"]]
        if any(re.search(pattern, text) for text in bot_texts):
            return list(data["messages"])
    raise AssertionError(f"no bot message matching {pattern!r} in {seconds}s")


async def test_local_mode_chat_start_and_mini_app_init_data(
    live: LivePlatform, http: aiohttp.ClientSession, catalog: Catalog
) -> None:
    base = live.sandbox_url
    async with http.post(
        f"{base}/sandbox/api/users",
        json={"first_name": "Mia", "username": "mia", "id": 777001, "language_code": "ru"},
    ) as response:
        assert response.status == 201
    async with http.post(f"{base}/sandbox/api/chats/777001/send", json={"text": "/start"}) as r:
        assert r.status == 200
    welcome = re.escape(catalog.get("ru", "start.welcome", name="Mia").split("<b>")[0])
    messages = await chat_until(http, base, 777001, welcome)
    button = messages[-1]["reply_markup"]["inline_keyboard"][0][0]
    assert button["web_app"]["url"] == live.settings.webapp_url

    async with http.post(
        f"{base}/sandbox/api/chats/777001/webapp",
        json={"url": button["web_app"]["url"], "start_param": "ref_x"},
    ) as response:
        launch = await response.json()
    fragment = parse_qs(urlsplit(launch["url"]).fragment)
    init_data = fragment["tgWebAppData"][0]
    assert init_data == launch["init_data"]
    checked = verify_init_data(init_data, bot_token=live.token, max_age=60)
    assert checked.user is not None and checked.user.id == 777001 and checked.start_param == "ref_x"

    async with http.get(
        f"{live.api_url}/api/v1/me", headers={"Authorization": f"tma {init_data}"}
    ) as response:
        me = (await response.json())["data"]
    assert (me["telegram_id"], me["first_name"], me["language"]) == (777001, "Mia", "ru")

    async with http.get(f"{live.api_url}/app/") as response:
        page = await response.text()
    assert f'<script src="{base}/sandbox/telegram-web-app.js"></script>' in page
    assert "telegram.org" not in page

    # Local mode keeps the sandbox's chats in DATA_DIR, so a restart continues them.
    state_file = live.settings.data_dir / "sandbox" / "state.json"
    for _ in range(50):
        if state_file.exists() and "777001" in state_file.read_text():
            break
        await asyncio.sleep(0.1)
    assert "777001" in state_file.read_text()


async def test_web_chat_rejects_what_a_client_could_not_do(
    live: LivePlatform, http: aiohttp.ClientSession
) -> None:
    base = live.sandbox_url
    async with http.post(f"{base}/sandbox/api/chats/424242/send", json={"text": "hi"}) as r:
        assert r.status == 404  # no such local user
    async with http.post(f"{base}/sandbox/api/users", json={"first_name": ""}) as r:
        assert r.status == 400
    async with http.post(f"{base}/sandbox/api/users", json={"first_name": "X", "id": "-5"}) as r:
        assert r.status == 400
    async with http.post(
        f"{base}/sandbox/api/chats/100000001/webapp", json={"url": "javascript:alert(1)"}
    ) as r:
        assert r.status == 400
    async with http.get(f"{base}/sandbox/static/..%2Fbotapi.py") as r:
        assert r.status == 404
    async with http.post(f"{base}/sandbox/api/chats/100000001/send", data='{"text": "hi"}') as r:
        assert r.status == 415  # text/plain: what a cross-site form could send


async def test_real_token_never_starts_the_sandbox(owner_url: str, tmp_path: Path) -> None:
    settings = load_settings(
        bot_token=SecretStr("123456:REAL-token"), database_url=owner_url, data_dir=tmp_path
    )
    assert not wants_sandbox(settings, Role.ALL)
    bot, api_base = bot_client(settings, None)
    try:
        assert api_base == "https://api.telegram.org"
        assert http_config(settings, None).telegram_js_url == TELEGRAM_WEB_APP_JS
        assert bot is not None and bot.token == "123456:REAL-token"
    finally:
        assert bot is not None
        await bot.session.close()
    off = load_settings(bot_token=None, sandbox=False, database_url=owner_url, data_dir=tmp_path)
    assert not wants_sandbox(off, Role.ALL)
    assert not wants_sandbox(load_settings(bot_token=None, data_dir=tmp_path), Role.API)


async def test_sandbox_serves_its_shim_and_page(http: aiohttp.ClientSession) -> None:
    async with run_sandbox(
        "7000000002:shim-check", "127.0.0.1", 0, webapp_url="http://x/app/"
    ) as sb:
        async with http.get(sb.shim_url) as response:
            assert response.status == 200
            assert "window.Telegram.WebApp = WebApp" in await response.text()
        async with http.get(sb.webchat_url) as response:
            assert response.status == 200 and "Local Telegram" in await response.text()
        async with http.get(f"{sb.base_url}/?start=ref_1", allow_redirects=False) as response:
            assert response.status == 302
            assert unquote(response.headers["Location"]) == "/sandbox/?start=ref_1"
        async with http.get(f"{sb.base_url}/sandbox/api/bot") as response:
            bot = await response.json()
        assert bot["username"] == "goodvibe_local_bot" and bot["webapp_url"] == "http://x/app/"


async def test_people_made_in_the_web_chat_survive_a_restart(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    users_file = tmp_path / "sandbox_users.json"
    token = "7000000003:restart-check"
    async with run_sandbox(
        token, "127.0.0.1", 0, webapp_url="http://x/app/", users_file=users_file
    ) as sb:
        new = {"first_name": "Zoe", "id": 888001, "language_code": "uk", "is_premium": True}
        async with http.post(f"{sb.base_url}/sandbox/api/users", json=new) as response:
            assert response.status == 201
    async with run_sandbox(
        token, "127.0.0.1", 0, webapp_url="http://x/app/", users_file=users_file
    ) as sb:
        url = f"{sb.base_url}/sandbox/api/users"
        users = {user["id"]: user for user in await (await http.get(url)).json()}
    assert users[888001]["first_name"] == "Zoe" and users[888001]["is_premium"] is True
    assert 100000001 in users  # the seeded people are still there


async def test_chat_action_shows_until_the_next_message(http: aiohttp.ClientSession) -> None:
    token = "7000000004:action-check"
    async with run_sandbox(token, "127.0.0.1", 0, webapp_url="http://x/app/") as sb:
        bot_api = f"{sb.api_base}/bot{token}"
        chat = f"{sb.base_url}/sandbox/api/chats/100000001"
        await http.post(
            f"{bot_api}/sendChatAction", json={"chat_id": 100000001, "action": "typing"}
        )
        assert (await (await http.get(chat)).json())["action"] == "typing"
        await http.post(f"{bot_api}/sendMessage", json={"chat_id": 100000001, "text": "done"})
        assert (await (await http.get(chat)).json())["action"] is None


live_ed25519 = localmode.live_ed25519


async def test_ed25519_mode_trusts_the_sandboxs_published_key_and_nothing_else(
    live_ed25519: LivePlatform, http: aiohttp.ClientSession
) -> None:
    live = live_ed25519
    base = live.sandbox_url
    async with http.get(f"{base}/sandbox/api/initdata-key") as response:
        published = await response.json()
    assert published["algorithm"] == "Ed25519" and published["bot_id"] == 7000000001
    key_file = live.settings.data_dir / KEY_FILE
    assert published["public_key"] == public_key_hex(load_signing_key(key_file))
    assert key_file.stat().st_mode & 0o077 == 0  # the private key is the owner's only

    async with http.post(
        f"{base}/sandbox/api/chats/100000001/webapp", json={"url": live.settings.webapp_url}
    ) as response:
        init_data = (await response.json())["init_data"]
    fields = dict(parse_qsl(init_data))
    assert {"hash", "signature", "auth_date", "user"} <= fields.keys()
    assert json.loads(fields["user"])["last_name"] == "Lee"
    public_key = bytes.fromhex(published["public_key"])
    assert check_ed25519_signature(published["bot_id"], init_data, public_key)

    async def me(raw: str) -> tuple[int, dict[str, Any]]:
        async with http.get(
            f"{live.api_url}/api/v1/me", headers={"Authorization": f"tma {raw}"}
        ) as response:
            return response.status, await response.json()

    status, body = await me(init_data)
    assert status == 200 and body["data"]["telegram_id"] == 100000001
    status, body = await me(init_data.replace("Ann", "Eve"))
    assert (status, body["error"]["code"]) == (401, "auth_bad_signature")
    # Valid for the bot token, but under ed25519 only Telegram's (here the sandbox's) key counts.
    hmac_only = sign_init_data(live.token, {"id": 100000001, "first_name": "Ann"})
    status, body = await me(hmac_only)
    assert (status, body["error"]["code"]) == (401, "auth_malformed")


async def test_the_signing_key_survives_a_restart(tmp_path: Path) -> None:
    key_file = tmp_path / KEY_FILE
    keys = []
    for _ in range(2):
        async with run_sandbox(
            "7000000005:key-check",
            "127.0.0.1",
            0,
            webapp_url="http://x/app/",
            signing_key=load_signing_key(key_file),
        ) as sb:
            keys.append(sb.initdata_public_key)
    assert keys[0] == keys[1] and len(keys[0]) == 64
    key_file.write_text("damaged")
    assert public_key_hex(load_signing_key(key_file)) != keys[0]  # a new key, not a crash


async def test_a_restart_keeps_chats_ids_files_and_payments(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Telegram's ids never start again: after a restart on the same DATA_DIR a button under an
    old message still names that message, and files and payments are still there."""
    token = "7000000006:restart-state"
    state_dir = tmp_path / "sandbox"
    ann_id = 100000001
    grant = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Grant", callback_data="grant")]]
    )
    png = b"\x89PNG\r\n\x1a\n" + bytes(40)

    async with run_sandbox(
        token, "127.0.0.1", 0, webapp_url="http://x/app/", state_dir=state_dir
    ) as sb:
        api = sb.server
        ann = api.state.users[ann_id].telegram()
        bot = make_bot(token, sb.api_base)
        try:
            old = await bot.send_message(ann_id, "Grant 5 VIBE?", reply_markup=grant)
            photo = await bot.send_photo(ann_id, BufferedInputFile(png, "p.png"))
            assert photo.photo is not None
            photo_id = photo.photo[-1].file_id
            await bot.send_invoice(
                ann_id,
                title="Pack",
                description="Stars",
                payload="pack",
                currency="XTR",
                prices=[LabeledPrice(label="Pack", amount=5)],
            )
            slug = api.state.chat(ann_id).messages[-1]["sandbox_invoice_slug"]
            paying = asyncio.create_task(api.user_pays(ann, slug))
            query = None
            while query is None:
                updates = await bot.get_updates(timeout=1)
                query = next((u.pre_checkout_query for u in updates if u.pre_checkout_query), None)
            await bot.answer_pre_checkout_query(query.id, ok=True)
            outcome = await paying
            assert outcome.status == "paid" and outcome.charge_id is not None
            last_update_id = api.state.last_update_id
        finally:
            await bot.session.close()

    async with run_sandbox(
        token, "127.0.0.1", 0, webapp_url="http://x/app/", state_dir=state_dir
    ) as sb:
        api = sb.server
        bot = make_bot(token, sb.api_base)
        try:
            new = await bot.send_message(ann_id, "After the restart")
            assert new.message_id > old.message_id and new.message_id > photo.message_id
            async with http.get(f"{sb.base_url}/sandbox/api/chats/{ann_id}") as response:
                history = (await response.json())["messages"]
            assert [m["message_id"] for m in history][:2] == [old.message_id, photo.message_id]

            # The button under the old message acts on that message, not on a newer one.
            pressed = await api.user_presses(
                ann, api.state.chat(ann_id).find(old.message_id) or {}, "grant"
            )
            assert pressed["update_id"] > last_update_id
            message_id = pressed["callback_query"]["message"]["message_id"]
            assert message_id == old.message_id
            await bot.edit_message_text("Granted", chat_id=ann_id, message_id=message_id)
            texts = {m["message_id"]: m.get("text") for m in api.state.chat(ann_id).messages}
            assert texts[old.message_id] == "Granted"
            assert texts[new.message_id] == "After the restart"

            info = await bot.get_file(photo_id)
            async with http.get(f"{sb.api_base}/file/bot{token}/{info.file_path}") as response:
                assert await response.read() == png
            again = await bot.send_photo(ann_id, photo_id)  # file_id reuse across restarts
            assert again.photo is not None and again.photo[-1].file_id == photo_id
            assert await bot.refund_star_payment(ann_id, outcome.charge_id) is True
        finally:
            await bot.session.close()

    async with run_sandbox(
        token, "127.0.0.1", 0, webapp_url="http://x/app/", state_dir=state_dir
    ) as sb:
        bot = make_bot(token, sb.api_base)
        try:
            with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
                await bot.refund_star_payment(ann_id, outcome.charge_id)
        finally:
            await bot.session.close()
    for damaged in ("{damaged", '{"format": 1, "chats": {}}'):
        (state_dir / "state.json").write_text(damaged)
        async with run_sandbox(
            token, "127.0.0.1", 0, webapp_url="http://x/app/", state_dir=state_dir
        ) as sb:
            assert sb.server.state.chats == {}  # a damaged file costs the history, not the start
