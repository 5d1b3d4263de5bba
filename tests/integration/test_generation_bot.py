"""/imagine in the chat against the local Bot API: the model picked from a keyboard, one
progress message, the result delivered as a photo by the worker; cancel refunds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram import Bot

from db.database import Database
from integrations.ai.local import LocalProvider
from integrations.telegram.generation import BotChatDelivery
from sandbox.botapi import BotApiServer
from services.generation.catalog import load_model_catalog
from services.generation.media import MediaStore
from services.generation.service import Quotas
from services.generation.usecase import Generation
from services.generation.worker import Worker, WorkerConfig
from services.i18n import Catalog
from tests.generation_helpers import drain
from tests.invariants import assert_invariants
from tests.ledger_helpers import available
from tests.telegram import ADMIN_ID, bot, bot_dispatcher, botapi, press, send, tg_user  # noqa: F401

ANN = tg_user(301, "Ann", username="ann_gen")
RU = tg_user(302, "Ivan", language_code="ru")


def as_message(sent: dict[str, Any], message_id: int) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "date": 0,
        "chat": {"id": int(sent["chat_id"]), "type": "private"},
        "text": sent["text"],
    }


def setup(db: Database, tmp: Path, seconds: float = 0.0) -> Generation:
    return Generation(
        db=db,
        models=load_model_catalog(None),
        quotas=Quotas(),
        providers={"local": LocalProvider(seconds)},
        media=MediaStore(tmp),
    )


async def user_id(db: Database, telegram_id: int) -> Any:
    from sqlalchemy import text

    async with db.service() as session:
        return await session.scalar(
            text("SELECT id FROM auth.users WHERE telegram_id = :t"), {"t": telegram_id}
        )


async def test_imagine_picks_a_model_and_delivers_a_photo(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner_url: str,
    tmp_path: Path,
) -> None:
    api, _ = botapi
    gen = setup(db, tmp_path)
    dp = bot_dispatcher(db, catalog, generation=gen)
    await send(api, dp, bot, ANN, "/imagine")
    assert api.calls_of("sendMessage")[-1]["text"] == catalog.get(
        "en", "generation.usage", command="imagine"
    )
    await send(api, dp, bot, ANN, "/imagine a fox in the snow")
    pick = api.calls_of("sendMessage")[-1]
    assert pick["text"] == catalog.get("en", "generation.pick_model")
    buttons = [row[0] for row in pick["reply_markup"]["inline_keyboard"]]
    assert [b["callback_data"] for b in buttons] == ["genm:flux-pro", "genm:midjourney"]
    await press(api, dp, bot, ANN, as_message(pick, 10), "genm:flux-pro")
    progress = api.calls_of("sendMessage")[-1]
    assert progress["text"] == catalog.get("en", "generation.progress", progress=0)
    ann = await user_id(db, 301)
    assert await available(db, ann) == 15_000_000

    w = Worker(
        db,
        gen.models,
        gen.providers,
        gen.media,
        WorkerConfig(idle_seconds=0.05),
        BotChatDelivery(bot, catalog, gen),
    )
    await drain(w)
    assert api.calls_of("sendChatAction")[-1]["action"] == "upload_photo"
    [photo] = api.calls_of("sendPhoto")
    assert photo["caption"] == "a fox in the snow"
    again = photo["reply_markup"]["inline_keyboard"][0][0]
    assert again["callback_data"].startswith("gen:again:")
    await drain(w)
    assert len(api.calls_of("sendPhoto")) == 1  # delivered once
    # "Again" orders the same prompt once more.
    await press(api, dp, bot, ANN, as_message(progress, 11), again["callback_data"])
    assert await available(db, ann) == 10_000_000
    await send(api, dp, bot, tg_user(ADMIN_ID, "Root"), "/stats_ai")
    stats = api.calls_of("sendMessage")[-1]["text"]
    assert stats.startswith(catalog.get("en", "generation.stats_title"))
    assert " local: 1 attempts, 100% ok" in stats
    await assert_invariants(owner_url)


async def test_cancel_button_refunds_in_russian(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    owner_url: str,
    tmp_path: Path,
) -> None:
    api, _ = botapi
    gen = setup(db, tmp_path, seconds=3600)
    dp = bot_dispatcher(db, catalog, generation=gen)
    await send(api, dp, bot, RU, "/music calm piano")
    progress = api.calls_of("sendMessage")[-1]
    assert progress["text"] == catalog.get("ru", "generation.progress", progress=0)
    cancel = progress["reply_markup"]["inline_keyboard"][0][0]
    await press(api, dp, bot, RU, as_message(progress, 5), cancel["callback_data"])
    assert api.calls_of("answerCallbackQuery")[-1]["text"] == catalog.get(
        "ru", "generation.cancelled_short"
    )
    ivan = await user_id(db, 302)
    assert await available(db, ivan) == 20_000_000
    w = Worker(
        db,
        gen.models,
        gen.providers,
        gen.media,
        WorkerConfig(idle_seconds=0.05),
        BotChatDelivery(bot, catalog, gen),
    )
    await drain(w)
    assert api.calls_of("sendMessage")[-1]["text"] == catalog.get("ru", "generation.cancelled")
    await assert_invariants(owner_url)


async def test_the_progress_message_is_edited_as_the_job_advances(
    botapi: tuple[BotApiServer, str],
    bot: Bot,
    db: Database,
    catalog: Catalog,
    tmp_path: Path,
) -> None:
    api, _ = botapi
    gen = setup(db, tmp_path, seconds=0.6)
    dp = bot_dispatcher(db, catalog, generation=gen)
    await send(api, dp, bot, ANN, "/music a comet")  # one music model: no keyboard
    w = Worker(
        db,
        gen.models,
        gen.providers,
        gen.media,
        WorkerConfig(idle_seconds=0.05, progress_edit_seconds=0.0),
        BotChatDelivery(bot, catalog, gen),
    )
    await drain(w)
    edits = [c["text"] for c in api.calls_of("editMessageText")]
    assert edits and all(text.startswith("Generating") for text in edits)
    assert api.calls_of("sendChatAction")[-1]["action"] == "upload_voice"
    assert len(api.calls_of("sendAudio")) == 1
