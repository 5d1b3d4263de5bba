"""Property-based fuzzing of the whole API from its own OpenAPI document (schemathesis).

The real app, served by `make_runner` on a real port over a real database, with a signed-in
user who has a balance and a known recipient (`@alice`, whom the document's example names).
Every operation gets schema-valid and schema-violating requests; every response must be a non-5xx that matches the document
(status, content type, the envelope as the response schema), and the ledger invariants must
hold afterwards. Examples are derandomized and bounded, so the run is the same every time and
fits the normal test command.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from typing import Any

import pytest
import requests
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from db.database import create_database
from db.urls import app_url_from_owner
from sandbox.initdata import sign_init_data
from services.i18n import Catalog
from services.transfers.batcher import SendBatcher
from services.transfers.config import LedgerConfig, P2PRules
from tests.invariants import assert_invariants
from tests.services import http_config, make_services, platform_openapi, root_app
from webapp_api.idempotency import KEY_PATTERN
from webapp_api.server import make_runner

TOKEN = "7000000003:fuzz-token_signing-initdata"
FUZZER = {"id": 9001, "first_name": "Fuzz", "username": "fuzzer", "language_code": "en"}
# The recipient the document's TransferIn example names, so the examples phase moves tokens.
RECIPIENT = {"id": 9002, "first_name": "Alice", "username": "alice", "language_code": "ru"}
EXAMPLES = 100
KEY_OK = re.compile(KEY_PATTERN)
# TransferIn's own rules: a value that meets them may be swapped for another that does.
STEERING: dict[str, tuple[re.Pattern[str], list[str]]] = {
    "recipient": (re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,64}"), ["@alice", "9002"]),
    "amount": (re.compile(r"[0-9]{1,39}"), ["10000", "1000000"]),
    "asset": (re.compile(r"[A-Za-z][A-Za-z0-9]{1,11}"), ["VIBE"]),
}
STATUSES: defaultdict[str, Counter[int]] = defaultdict(Counter)


class ServedApi:
    """The API app on 127.0.0.1 in its own thread and event loop: schemathesis calls it with
    blocking `requests`, so it cannot share the test's loop."""

    def __init__(self, app_url: str, catalog: Catalog) -> None:
        self._app_url = app_url
        self._catalog = catalog
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._close: list[Any] = []

    def start(self) -> str:
        self._thread.start()
        return self._run(self._start())

    def stop(self) -> None:
        self._run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _run(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=60)

    async def _start(self) -> str:
        db = create_database(self._app_url, pool_size=5)
        rules = P2PRules(fee_bps=100, minimum="0.01", daily_limit="15")
        sender = SendBatcher(db, rules)
        services = make_services(
            db,
            self._catalog,
            ledger=LedgerConfig(welcome_bonus=20_000_000, p2p=rules),
            sender=sender,
        )
        self._runner = make_runner(root_app(services, http_config(TOKEN)), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._close = [sender.close, db.dispose]
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _stop(self) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
        for close in self._close:
            await close()


def authorization(user: dict[str, Any]) -> dict[str, str]:
    # Signed per request: a long run must not outlive the initData's max age.
    return {"Authorization": "tma " + sign_init_data(TOKEN, user)}


@pytest.fixture
async def checked_owner_url(owner_url: str) -> AsyncIterator[str]:
    yield owner_url
    await assert_invariants(owner_url)


@pytest.fixture
def base_url(checked_owner_url: str, catalog: Catalog) -> Iterator[str]:
    served = ServedApi(app_url_from_owner(checked_owner_url), catalog)
    url = served.start()
    try:
        for user in (FUZZER, RECIPIENT):  # both exist, the fuzzer with its welcome bonus
            response = requests.get(f"{url}/api/v1/me", headers=authorization(user), timeout=30)
            assert response.status_code == 200, response.text
        yield url
    finally:
        served.stop()


# Built in-process at import (what `GET /api/v1/openapi.json` serves); requests go to `base_url`.
# Our own config, not one discovered on disk. A schema-valid request may still be refused for
# what no schema can say (a cursor we never issued, a recipient no one has): 422 is a valid
# answer to positive data too; it still must be in the envelope and never a 5xx.
# Unknown query parameters are ignored by design (clients add cache busters), so none are made up.
CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"allow-extra-parameters": False},
        "checks": {
            "positive_data_acceptance": {
                "expected-statuses": ["2xx", "401", "403", "404", "409", "422", "429"]
            }
        },
    }
)
# `GET /ws` is a WebSocket: a plain request is answered 426 by design (its own tests cover the
# protocol, test_realtime_ws.py), which no HTTP fuzzer can drive.
schema = schemathesis.openapi.from_dict(platform_openapi(), config=CONFIG).exclude(
    path="/api/v1/ws"
)


@schema.auth(refresh_interval=60)
class SignedInitData:
    """`Authorization: tma <initData>` for the fuzzer, signed like Telegram's clients do."""

    def get(self, case: Any, ctx: Any) -> str:
        return authorization(FUZZER)["Authorization"]

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": data}


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    """Random recipients, amounts and assets almost never name a user, fit a balance or
    exist; steer some POST /transfers bodies to `@alice`, small amounts and VIBE so memos and
    the ledger path get fuzzed too. Only values that are already valid are swapped, so a
    negative case stays negative."""
    operation = context.operation
    if operation is None or operation.path != "/api/v1/transfers" or not isinstance(body, dict):
        return st.just(body)
    fields = {
        name: swap(body[name], valid, choices)
        for name, (valid, choices) in STEERING.items()
        if name in body
    }
    return st.fixed_dictionaries(fields).map(lambda steered: {**body, **steered})


def swap(value: Any, valid: re.Pattern[str], choices: list[str]) -> st.SearchStrategy[Any]:
    # Hypothesis prefers earlier choices, so the steered values come first.
    if isinstance(value, str) and valid.fullmatch(value):
        return st.sampled_from([*choices, value])
    return st.just(value)


@schema.hook
def flatmap_headers(context: Any, headers: Any) -> st.SearchStrategy[Any]:
    """A made-up Idempotency-Key is often one already used with another body (a 409, rightly);
    a valid one is sometimes swapped for a fresh one so more sends reach the ledger."""
    key = headers.get("Idempotency-Key") if isinstance(headers, dict) else None
    if not isinstance(key, str) or KEY_OK.fullmatch(key) is None:
        return st.just(headers)
    return st.one_of(st.uuids().map(str), st.just(key)).map(
        lambda fresh: {**headers, "Idempotency-Key": fresh}
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_fuzz(case: Any, base_url: str) -> None:
    response = case.call_and_validate(base_url=base_url)
    STATUSES[f"{case.method} {case.path}"][response.status_code] += 1


@pytest.fixture(scope="module", autouse=True)
def transfers_were_made() -> Iterator[None]:
    """The fuzzing is not all refusals: some transfers went through (the example's, at least)."""
    yield
    transfers = STATUSES.get("POST /api/v1/transfers")
    if transfers is not None:  # the operation ran (not deselected)
        assert transfers[201] > 0, transfers


def test_document_states_lists_and_the_idempotency_key_rule() -> None:
    document = platform_openapi()
    schemas = document["components"]["schemas"]

    def data_of(path: str, status: str = "200") -> dict[str, Any]:
        ref = document["paths"][path]["get"]["responses"][status]["content"]["application/json"]
        name = ref["schema"]["$ref"].rsplit("/", 1)[1]
        return dict(schemas[name]["properties"]["data"])

    for path in ("/api/v1/assets", "/api/v1/balances", "/api/v1/transactions"):
        assert {"type": "array"} in [{"type": s.get("type")} for s in data_of(path)["anyOf"]]
    [key] = document["paths"]["/api/v1/transfers"]["post"]["parameters"]
    assert key["name"] == "Idempotency-Key" and key["required"] is True
    assert key["schema"]["pattern"] == KEY_PATTERN and key["schema"]["maxLength"] == 255
    assert "idempotency_key_reused" in key["description"]
