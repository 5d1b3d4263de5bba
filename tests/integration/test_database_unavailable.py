"""A database the API cannot reach is the service's trouble, not a bug: 503, never 500."""

from __future__ import annotations

import socket
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from db.database import create_database
from services.i18n import Catalog
from tests.api import tma, web_user
from tests.services import make_services, root_app


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_database_answers_503_with_retry_after(catalog: Catalog) -> None:
    nowhere = create_database(f"postgresql://gv_app@127.0.0.1:{_closed_port()}/goodvibe")
    app = root_app(make_services(nowhere, catalog))
    client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
    await client.start_server()
    try:
        response = await client.get("/api/v1/me", headers=tma(web_user(501)))
        body = await response.json()
        assert response.status == 503, body
        assert body["error"]["code"] == "database_unavailable"
        assert response.headers["Retry-After"] == "1"
    finally:
        await client.close()
        await nowhere.dispose()
