"""GET /api/v1/texts: the Mini App's texts, one language at a time, without sign-in."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from fluent.runtime import FluentBundle, FluentResource
from fluent.syntax import FluentParser, FluentSerializer
from fluent.syntax import ast as ftl

from services.i18n import Catalog
from services.i18n.catalog import message_id
from tests.integration.test_api_foundation import assert_envelope

Client = TestClient[Any, Any]


def _messages(source: str) -> dict[str, str]:
    """Message id -> its Fluent source, from a served resource (which must parse cleanly)."""
    resource = FluentParser(with_spans=False).parse(source)
    assert not [e for e in resource.body if isinstance(e, ftl.Junk)]
    serializer = FluentSerializer()
    return {
        e.id.name: serializer.serialize_entry(e)
        for e in resource.body
        if isinstance(e, ftl.Message)
    }


async def test_texts_are_the_mini_apps_and_error_messages_from_the_same_ftl_files(
    api: Client, catalog: Catalog
) -> None:
    client_keys = {k for k in catalog.texts["en"] if k.startswith(("miniapp.", "error."))}
    assert client_keys, "the Mini App has texts in the catalog"
    for language in ("en", "ru"):
        response = await api.get("/api/v1/texts", params={"lang": language})
        body = await response.json()
        assert response.status == 200
        assert_envelope(body, success=True)
        assert body["data"]["language"] == language
        assert set(body["data"]["languages"]) == set(catalog.languages)
        assert "public" in response.headers["Cache-Control"]
        resources = body["data"]["resources"]
        # The language asked for first, English behind it for whatever it lacks.
        assert [r["language"] for r in resources] == list(dict.fromkeys([language, "en"]))
        for resource in resources:
            served = _messages(resource["source"])
            # Exactly the bot's messages, as the .ftl files have them: nothing rewritten.
            own = catalog.texts[resource["language"]]
            assert served == {message_id(key): own[key].source for key in client_keys if key in own}
    ru = (await (await api.get("/api/v1/texts?lang=ru")).json())["data"]["resources"][0]
    served = _messages(ru["source"])
    assert "Профиль" in served["miniapp-profile-tab"]
    # Messages travel unformatted: the client fills in the variables and picks plural forms.
    assert "{ $name }" in served["miniapp-history-from"]
    assert "[few]" in served["error-too_many_decimals"]


async def test_the_served_messages_format_as_the_bot_formats_them(
    api: Client, catalog: Catalog
) -> None:
    # What @fluent/bundle does in the browser, done here with fluent.runtime on the served
    # source: the same words and plural forms the bot sends (minus HTML escaping).
    ru = (await (await api.get("/api/v1/texts?lang=ru")).json())["data"]["resources"][0]
    bundle = FluentBundle(["ru"], use_isolating=False)
    bundle.add_resource(FluentResource(ru["source"]))
    for count in (1, 2, 5, 21, 11):
        pattern = bundle.get_message("error-too_many_decimals").value
        assert pattern is not None
        text, errors = bundle.format_pattern(pattern, {"decimals": count})
        assert not errors
        assert text == catalog.get("ru", "error.too_many_decimals", decimals=count)


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
