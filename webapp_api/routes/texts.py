"""The Mini App's texts, so its JS and HTML carry no language of their own."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from services.i18n import Language
from services.i18n.texts import client_texts
from webapp_api.context import context_of
from webapp_api.envelope import ok
from webapp_api.parsing import read_query
from webapp_api.registry import Routes

routes = Routes(tag="texts")

# Texts change only with a deploy; a few minutes of staleness spares a request per app open.
CACHE_CONTROL = "public, max-age=300"


class TextsQuery(BaseModel):
    lang: Language = Field(description="Language of the texts")


class Texts(BaseModel):
    language: str
    languages: list[str] = Field(description="Every language the texts exist in")
    texts: dict[str, str] = Field(
        description="Key → template with Python-style `{name}` placeholders, not HTML-escaped"
    )


@routes.route(
    "GET",
    "/texts",
    summary="The Mini App's user-facing texts in one language",
    response=Texts,
    query=TextsQuery,
    auth=False,
)
async def texts(request: web.Request) -> web.Response:
    query = read_query(request, TextsQuery)
    catalog = context_of(request).catalog
    response = ok(
        request,
        Texts(
            language=query.lang,
            languages=list(catalog.languages),
            texts=client_texts(catalog, query.lang),
        ),
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
