"""Requests aiohttp's parser refuses, sent over a raw socket: the envelope, a stable code, no echo."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from db.database import Database
from services.i18n import Catalog
from tests.services import make_services, root_app
from webapp_api.server import make_runner

SECRET = "tma user=SECRET-initdata-4f1c&hash=0badc0ffee"
IN_URL = SECRET.replace(" ", "%20")
PAD = "a" * 9000


@pytest.fixture
async def port(db: Database, catalog: Catalog) -> AsyncIterator[int]:
    runner = make_runner(root_app(make_services(db, catalog)), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield runner.addresses[0][1]
    await runner.cleanup()


async def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def envelope(headers: dict[str, str], body: bytes) -> dict[str, Any]:
    assert headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = json.loads(body)
    assert payload["success"] is False and payload["data"] is None
    assert set(payload["error"]) == {"code", "message", "details"}
    assert payload["meta"]["requestId"] == headers["x-request-id"]
    return payload


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nX-Pad: {PAD}\r\n\r\n", 431, "header_too_large"),
        (
            f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: {SECRET}{PAD}\r\n\r\n",
            431,
            "header_too_large",
        ),
        (
            f"GET /api/v1/me?auth={IN_URL}&{PAD} HTTP/1.1\r\nHost: x\r\n\r\n",
            431,
            "header_too_large",
        ),
        (f"GET /api/v1/me?{IN_URL}\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (f"G\x01T /api/v1/me?{IN_URL} HTTP/1.1\r\nHost: x\r\n\r\n", 400, "bad_request"),
        (
            f"POST /api/v1/transfers HTTP/1.1\r\nHost: x\r\nAuthorization: {SECRET}\r\n"
            "Content-Length: -1\r\n\r\n",
            400,
            "bad_request",
        ),
        (
            f"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: {SECRET}\r\nBad\x01Name: v\r\n\r\n",
            400,
            "bad_request",
        ),
        (f"\x16\x03\x01{SECRET}\r\n\r\n", 400, "bad_request"),
        (
            f"POST /api/v1/transfers HTTP/1.1\r\nHost: x\r\nAuthorization: {SECRET}\r\n"
            "Transfer-Encoding: chunked\r\n\r\nSECRET\r\n\r\n",
            400,
            "bad_request",
        ),
    ],
    ids=[
        "oversized-header",
        "oversized-authorization",
        "oversized-request-line",
        "nul-in-target",
        "bad-method-byte",
        "negative-content-length",
        "bad-header-name",
        "tls-on-plain-port",
        "bad-chunk-size",
    ],
)
async def test_parser_errors_answer_in_the_envelope_without_echo(
    port: int, raw: str, status: int, code: str
) -> None:
    got, headers, body = await exchange(port, raw.encode("latin-1"))
    assert got == status
    assert envelope(headers, body)["error"]["code"] == code
    # A run of the padding, not a few letters: a random request id may hold "aaaa".
    assert b"SECRET" not in body and PAD[:64].encode() not in body
    assert all("SECRET" not in value for value in headers.values())


async def test_a_good_request_on_the_same_server_is_unaffected(port: int) -> None:
    status, _headers, body = await exchange(
        port, b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and json.loads(body)["success"] is True
