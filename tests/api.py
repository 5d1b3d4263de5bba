"""The Mini App API on a local test server, with initData signed like Telegram's clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from db.database import Database
from sandbox.initdata import sign_init_data
from services.i18n import Catalog
from tests.services import API_TOKEN, MAX_AGE, http_config, make_services, root_app

__all__ = ["API_TOKEN", "MAX_AGE", "api", "tma", "web_user"]


@pytest.fixture
async def api(db: Database, catalog: Catalog) -> AsyncIterator[TestClient[Any, Any]]:
    app = root_app(
        make_services(db, catalog),
        http_config(cors_origins=("https://app.example.test",), max_body_bytes=4096),
    )
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def tma(user: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {"Authorization": "tma " + sign_init_data(API_TOKEN, user, **kwargs)}


def web_user(user_id: int, first_name: str = "Ann", **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "first_name": first_name, "language_code": "en", **extra}
