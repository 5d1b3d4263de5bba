"""`/api/v1/purchases*` and `/api/v1/referrals*`: the Mini App's doors to purchases and the
referral program, and what the user's database role can and cannot read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from aiogram import Bot
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from db.database import Database
from db.urls import asyncpg_dsn
from integrations.telegram.stars import BotStars
from sandbox.botapi import BotApiServer
from sandbox.initdata import sign_init_data
from services.i18n import Catalog
from services.purchases.schemas import InvoiceTerms
from services.purchases.service import credit_purchase
from services.users.service import get_user
from tests.api import API_TOKEN, tma, web_user
from tests.services import http_config, make_services, purchases_of, root_app

VIBE = 10**6


@pytest.fixture
async def client(db: Database, catalog: Catalog, bot: Bot) -> AsyncIterator[TestClient[Any, Any]]:
    services = make_services(db, catalog, purchases=purchases_of(db, stars=BotStars(bot)))
    app = root_app(services, http_config())
    test_client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await test_client.start_server()
    yield test_client
    await test_client.close()


@pytest.fixture
async def owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    yield conn
    await conn.close()


async def me(client: TestClient[Any, Any], user: dict[str, Any], **init: Any) -> dict[str, Any]:
    headers = {"Authorization": "tma " + sign_init_data(API_TOKEN, user, **init)}
    response = await client.get("/api/v1/me", headers=headers)
    assert response.status == 200, await response.text()
    body: dict[str, Any] = (await response.json())["data"]
    return body


async def test_packs_and_an_invoice_link_the_sandbox_can_pay(
    client: TestClient[Any, Any], botapi: tuple[BotApiServer, str]
) -> None:
    api, _ = botapi
    ann = web_user(11_001)
    response = await client.get("/api/v1/purchases/packs", headers=tma(ann))
    assert (await response.json())["data"] == [
        {"id": "stars_50", "stars": 50, "vibe": "100000000"},
        {"id": "stars_250", "stars": 250, "vibe": "550000000"},
        {"id": "stars_1000", "stars": 1000, "vibe": "2400000000"},
    ]
    headers = {**tma(ann), "Idempotency-Key": "buy-1"}
    response = await client.post(
        "/api/v1/purchases/stars", json={"pack_id": "stars_250"}, headers=headers
    )
    assert response.status == 200, await response.text()
    link = (await response.json())["data"]["invoice_link"]
    assert link.startswith("https://t.me/$")
    invoice = api.state.invoices[link.removeprefix("https://t.me/$")]
    assert (invoice.currency, invoice.total_amount) == ("XTR", 250)
    assert InvoiceTerms.parse(invoice.payload) == InvoiceTerms("stars_250", 250, 550 * VIBE, 11_001)
    # The same key replays the first answer: no second invoice.
    again = await client.post(
        "/api/v1/purchases/stars", json={"pack_id": "stars_250"}, headers=headers
    )
    assert (await again.json())["data"]["invoice_link"] == link
    assert len(api.state.invoices) == 1
    missing = await client.post(
        "/api/v1/purchases/stars",
        json={"pack_id": "stars_7"},
        headers={**tma(ann), "Idempotency-Key": "buy-2"},
    )
    assert missing.status == 404
    assert (await missing.json())["error"]["code"] == "pack_not_found"


async def test_the_purchase_list_pages_and_shows_only_ones_own(
    client: TestClient[Any, Any], db: Database
) -> None:
    ann, bob = web_user(11_101), web_user(11_102, "Bob")
    ann_id, bob_id = UUID((await me(client, ann))["id"]), UUID((await me(client, bob))["id"])
    sales = purchases_of(db)
    async with db.service() as session:
        for n, (who, telegram_id) in enumerate([(ann_id, 11_101)] * 3 + [(bob_id, 11_102)]):
            buyer = await get_user(session, who)
            terms = InvoiceTerms("stars_50", 50, 100 * VIBE, telegram_id)
            await credit_purchase(
                session,
                sales.config,
                buyer=buyer,
                charge_id=f"charge-{n}",
                payload=terms.payload(),
                currency="XTR",
                total=50,
            )
    first = await client.get("/api/v1/purchases?limit=2", headers=tma(ann))
    body = await first.json()
    assert [p["status"] for p in body["data"]] == ["paid", "paid"]
    assert body["pagination"]["has_more"] is True
    cursor = body["pagination"]["next_cursor"]
    second = await (
        await client.get(f"/api/v1/purchases?limit=2&cursor={cursor}", headers=tma(ann))
    ).json()
    assert len(second["data"]) == 1 and second["pagination"]["has_more"] is False
    seen = {p["id"] for p in body["data"] + second["data"]}
    assert len(seen) == 3
    bad = await client.get("/api/v1/purchases?cursor=nonsense", headers=tma(ann))
    assert (await bad.json())["error"]["code"] == "invalid_cursor"


async def test_referrals_show_eight_levels_links_and_the_downline_public_fields_only(
    client: TestClient[Any, Any], db: Database, owner: asyncpg.Connection
) -> None:
    top = await me(client, web_user(11_201, "Top"))
    # A chain built through the Mini App's start_param: 11_202 under top, 11_203 under 11_202.
    mid = await me(
        client, web_user(11_202, "Mid", username="mid"), start_param=f"ref_{top['referral_code']}"
    )
    await me(client, web_user(11_203, "Low"), start_param=f"ref_{mid['referral_code']}")
    # Opening the app again with another code rebinds nothing.
    await me(client, web_user(11_203, "Low"), start_param=f"ref_{top['referral_code']}")
    body = (
        await (await client.get("/api/v1/referrals", headers=tma(web_user(11_201, "Top")))).json()
    )["data"]
    assert body["code"] == top["referral_code"]
    assert body["link"] == f"https://t.me/goodvibe_test_bot?start=ref_{top['referral_code']}"
    assert (
        body["app_link"]
        == f"https://t.me/goodvibe_test_bot/app?startapp=ref_{top['referral_code']}"
    )
    assert [(lv["level"], lv["referees"]) for lv in body["levels"]] == [
        (1, 1),
        (2, 1),
        *((level, 0) for level in range(3, 9)),
    ]
    assert body["totals"] == {"pending": "0", "available": "0"}

    level2 = await (
        await client.get("/api/v1/referrals/downline?level=2", headers=tma(web_user(11_201, "Top")))
    ).json()
    assert [set(r) for r in level2["data"]] == [{"id", "username", "first_name", "joined_at"}]
    assert level2["data"][0]["first_name"] == "Low"
    level9 = await client.get("/api/v1/referrals/downline?level=9", headers=tma(web_user(11_201)))
    assert level9.status == 422
    # The one below sees nothing of the one above.
    mine = await (
        await client.get("/api/v1/referrals/downline?level=1", headers=tma(web_user(11_203)))
    ).json()
    assert mine["data"] == []


async def test_the_user_role_reads_no_referral_table_and_only_its_own_purchases(
    client: TestClient[Any, Any], db: Database, owner: asyncpg.Connection
) -> None:
    top = await me(client, web_user(11_301, "Top"))
    low = await me(client, web_user(11_302, "Low"), start_param=f"ref_{top['referral_code']}")
    async with db.user(UUID(top["id"])) as session:
        for table in (
            "referrals.links",
            "referrals.rewards",
            "referrals.reward_events",
            "referrals.notice_items",
            "referrals.flags",
            "tokens.debts",
        ):
            with pytest.raises(Exception, match="permission denied"):
                async with session.begin_nested():
                    await session.execute(text(f"SELECT * FROM {table}"))
    await owner.execute(
        "INSERT INTO tokens.purchases (user_id, charge_id, pack_id, stars, vibe) "
        "VALUES ($1, 'c-low', 'stars_50', 50, 1)",
        UUID(low["id"]),
    )
    async with db.user(UUID(top["id"])) as session:
        assert (await session.execute(text("SELECT count(*) FROM tokens.purchases"))).scalar() == 0
        # The view shows only public fields of the user's own referees.
        rows = (await session.execute(text("SELECT * FROM referrals.my_downline"))).mappings().all()
        assert [set(r) for r in rows] == [{"level", "joined_at", "id", "username", "first_name"}]
    async with db.user(UUID(low["id"])) as session:
        assert (await session.execute(text("SELECT count(*) FROM tokens.purchases"))).scalar() == 1
        assert (
            await session.execute(text("SELECT count(*) FROM referrals.my_downline"))
        ).scalar() == 0
