"""The Mini App's texts, so its JS and HTML carry no language of their own.

They travel as Fluent source, the same messages the bot formats, and the app formats them
with `@fluent/bundle`: one set of `.ftl` files for both, plural forms included.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, Field

from services.i18n import Language, client_resources
from webapp_api.context import context_of
from webapp_api.envelope import ok
from webapp_api.parsing import read_query
from webapp_api.registry import Routes

routes = Routes(tag="texts")

# Texts change only with a deploy; a few minutes of staleness spares a request per app open.
CACHE_CONTROL = "public, max-age=300"


class TextsQuery(BaseModel):
    lang: Language = Field(description="Language of the texts")


class FluentResource(BaseModel):
    language: str
    source: str = Field(
        description="Messages in Fluent syntax (https://projectfluent.org), not HTML-escaped; "
        "a key `a.b_c` is the message id `a-b_c`"
    )


class Texts(BaseModel):
    language: str
    languages: list[str] = Field(description="Every language the texts exist in")
    resources: list[FluentResource] = Field(
        description="In lookup order: the language asked for, then English for any message it lacks"
    )


@routes.route(
    "GET",
    "/texts",
    summary="The Mini App's user-facing texts in one language, as Fluent messages",
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
            resources=[
                FluentResource(language=r.language, source=r.source)
                for r in client_resources(catalog, query.lang)
            ],
        ),
    )
    response.headers["Cache-Control"] = CACHE_CONTROL
    return response
