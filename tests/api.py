"""The Mini App API on a local test server, with initData signed like Telegram's clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from db.database import Database
from sandbox.initdata import sign_init_data
from services.i18n import Catalog
from services.transfers.config import LedgerConfig
from services.transfers.usecase import SessionSends, Transfers
from webapp_api.app import create_api_app
from webapp_api.context import ApiContext

API_TOKEN = "7000000002:api-test-token_signing-initdata"
MAX_AGE = 3600


def api_context(db: Database, catalog: Catalog, **overrides: Any) -> ApiContext:
    """The API as the composition root wires it; `ledger` and `executor` (each send in its own
    transaction by default) build `transfers` unless it is given."""
    ledger = overrides.pop("ledger", None) or LedgerConfig()
    executor = overrides.pop("executor", None) or SessionSends(db)
    values: dict[str, Any] = {
        "db": db,
        "catalog": catalog,
        "bot_token": API_TOKEN,
        "init_data_max_age": MAX_AGE,
        "admin_ids": frozenset({900}),
        "version": "test",
        "ledger": ledger,
        "transfers": Transfers(db, ledger.p2p, ledger.assets, executor),
        "on_created": ledger.on_created,
    }
    values.update(overrides)
    return ApiContext(**values)


@pytest.fixture
async def api(db: Database, catalog: Catalog) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_api_app(
        api_context(db, catalog), cors_origins=("https://app.example.test",), max_body_bytes=4096
    )
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    yield client
    await client.close()


def tma(user: dict[str, Any], **kwargs: Any) -> dict[str, str]:
    return {"Authorization": "tma " + sign_init_data(API_TOKEN, user, **kwargs)}


def web_user(user_id: int, first_name: str = "Ann", **extra: Any) -> dict[str, Any]:
    return {"id": user_id, "first_name": first_name, "language_code": "en", **extra}
