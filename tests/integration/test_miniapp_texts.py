"""GET /api/v1/texts: the Mini App's texts, one language at a time, without sign-in."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from services.i18n import Catalog
from tests.integration.test_api_foundation import assert_envelope

Client = TestClient[Any, Any]


async def test_texts_in_each_language_are_the_mini_apps_and_error_keys_only(
    api: Client, catalog: Catalog
) -> None:
    english = {k: v for k, v in catalog.texts["en"].items() if k.startswith(("miniapp.", "error."))}
    assert english, "the Mini App has texts in the catalog"
    for language in ("en", "ru"):
        response = await api.get("/api/v1/texts", params={"lang": language})
        body = await response.json()
        assert response.status == 200
        assert_envelope(body, success=True)
        assert body["data"]["language"] == language
        assert set(body["data"]["languages"]) == set(catalog.languages)
        texts = body["data"]["texts"]
        assert texts.keys() == english.keys()
        assert texts["miniapp.profile.tab"] == catalog.get(language, "miniapp.profile.tab")
        assert "public" in response.headers["Cache-Control"]
    ru = (await (await api.get("/api/v1/texts?lang=ru")).json())["data"]["texts"]
    assert ru["miniapp.profile.tab"] == "Профиль"
    # Templates travel unfilled: the client fills the placeholders.
    assert "{name}" in ru["miniapp.history.from"]
    # Errors read the same in the app as in the bot, filled from the envelope's details.
    assert ru["error.daily_limit_exceeded"] == catalog.texts["ru"]["error.daily_limit_exceeded"]


async def test_every_catalog_language_is_served(api: Client, catalog: Catalog) -> None:
    for language in catalog.languages:
        response = await api.get("/api/v1/texts", params={"lang": language})
        assert response.status == 200, language


async def test_unknown_or_missing_language_is_a_validation_error(api: Client) -> None:
    for query in ("?lang=de", "?lang=", ""):
        response = await api.get("/api/v1/texts" + query)
        body = await response.json()
        assert response.status == 422, query
        assert_envelope(body, success=False)
        assert body["error"]["code"] == "validation_error"
        assert body["error"]["details"]["fields"][0]["loc"] == "lang"


async def test_texts_are_documented_as_public(api: Client) -> None:
    document = await (await api.get("/api/v1/openapi.json")).json()
    operation = document["paths"]["/api/v1/texts"]["get"]
    assert "security" not in operation
    assert [p["name"] for p in operation["parameters"]] == ["lang"]
