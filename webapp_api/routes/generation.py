"""AI generation from the Mini App: the catalog, orders (Idempotency-Key), jobs, results."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from aiohttp import web
from pydantic import BaseModel, Field

from app.services import Services
from services.errors import InsufficientFunds
from services.generation.analytics import ProviderDay, ai_stats
from services.generation.errors import (
    BudgetExhausted,
    DailyQuotaExceeded,
    GenerationFinished,
    GenerationKeyReused,
    GenerationNotFound,
    InvalidParams,
    InvalidPrompt,
    ModelNotFound,
    TooManyJobs,
)
from services.generation.providers import Provider, WebhookRejected
from services.generation.schemas import JobOut, ModelOut
from services.generation.service import MAX_PROMPT
from services.generation.usecase import Generation
from services.generation.webhooks import receive
from services.ledger.errors import AdminOnly
from services.users.access import is_admin
from services.validation import InvalidCursor, SafeText
from webapp_api.context import context_of, current_user
from webapp_api.envelope import Pagination, ok
from webapp_api.idempotency import idempotency_key
from webapp_api.parsing import read_body, read_query
from webapp_api.registry import Routes
from webapp_api.webhooks import ProviderHandler, ProviderWebhook

routes = Routes(tag="generation")


class GenerationIn(BaseModel):
    model: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    prompt: SafeText = Field(min_length=1, max_length=MAX_PROMPT)
    params: dict[str, Any] = Field(default_factory=dict)


class ListQuery(BaseModel):
    cursor: str | None = Field(default=None, max_length=100)
    limit: int = Field(default=20, ge=1, le=100)


def _generation(request: web.Request) -> Generation:
    return context_of(request).generation


def _job_id(request: web.Request) -> UUID:
    try:
        return UUID(request.match_info["job_id"])
    except ValueError:
        raise GenerationNotFound("no such generation") from None


@routes.route(
    "GET", "/catalog", summary="Models a user can order, with prices", response=ModelOut, many=True
)
async def catalog(request: web.Request) -> web.Response:
    return ok(request, list[BaseModel](_generation(request).catalog()))


@routes.route(
    "POST",
    "/generations",
    summary="Order a generation: the price is held now, posted on success, refunded otherwise",
    response=JobOut,
    body=GenerationIn,
    status=202,
    idempotent=True,
    errors=(
        ModelNotFound,
        InvalidParams,
        InvalidPrompt,
        DailyQuotaExceeded,
        TooManyJobs,
        BudgetExhausted,
        GenerationKeyReused,
        InsufficientFunds,
    ),
)
async def create(request: web.Request) -> web.Response:
    body = await read_body(request, GenerationIn)
    user = current_user(request)
    job, _ = await _generation(request).order(
        user_id=user.id,
        request_key="api:" + idempotency_key(request),
        model=body.model,
        prompt=body.prompt,
        params=body.params,
        # Results ordered in the Mini App are delivered to the chat too.
        chat_id=user.telegram_id,
    )
    return ok(request, job, status=202)


@routes.route(
    "GET",
    "/generations",
    summary="The user's generations, newest first",
    response=JobOut,
    query=ListQuery,
    paginated=True,
    errors=(InvalidCursor,),
)
async def history(request: web.Request) -> web.Response:
    query = read_query(request, ListQuery)
    before = _cursor(query.cursor) if query.cursor else None
    jobs = await _generation(request).history(
        current_user(request).id, limit=query.limit + 1, before=before
    )
    more = len(jobs) > query.limit
    jobs = jobs[: query.limit]
    cursor = f"{jobs[-1].created_at.isoformat()}|{jobs[-1].id}" if more else None
    return ok(
        request,
        list[BaseModel](jobs),
        pagination=Pagination(next_cursor=cursor, has_more=more, limit=query.limit),
    )


# What `history` writes: an aware ISO timestamp, `|`, a job id. ASCII only, so no NUL, Unicode
# digit or surrogate reaches `fromisoformat` (which takes more than it writes).
_CURSOR = re.compile(
    r"[0-9T:.+-]{1,40}\|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def _cursor(text: str) -> tuple[datetime, UUID]:
    """Raises InvalidCursor, also for a naive time or one a UTC `datetime` (and so the driver
    and PostgreSQL's timestamptz) cannot hold, like `0001-01-01T00:00:00+14:00`."""
    if _CURSOR.fullmatch(text) is None:
        raise InvalidCursor("invalid cursor")
    when, _, job_id = text.partition("|")
    try:
        at = datetime.fromisoformat(when)
        if at.tzinfo is None:
            raise ValueError("a cursor's time must carry its offset")
        return at.astimezone(UTC), UUID(job_id)
    except (ValueError, OverflowError):
        raise InvalidCursor("invalid cursor") from None


@routes.route(
    "GET",
    "/generations/{job_id}",
    summary="One generation: status, progress, outputs",
    response=JobOut,
    errors=(GenerationNotFound,),
)
async def show(request: web.Request) -> web.Response:
    job = await _generation(request).get(current_user(request).id, _job_id(request))
    return ok(request, job)


@routes.route(
    "POST",
    "/generations/{job_id}/cancel",
    summary="Cancel a generation not yet finished; its price is refunded",
    response=JobOut,
    errors=(GenerationNotFound, GenerationFinished),
)
async def cancel(request: web.Request) -> web.Response:
    job = await _generation(request).cancel(current_user(request).id, _job_id(request))
    return ok(request, job)


@routes.route(
    "GET",
    "/generations/{job_id}/media/{index}",
    summary="A result's bytes, with its MIME type (the owner only)",
    response=None,
    errors=(GenerationNotFound,),
)
async def media(request: web.Request) -> web.StreamResponse:
    raw = request.match_info["index"]
    if not raw.isascii() or not raw.isdigit() or len(raw) > 3:
        raise GenerationNotFound("no such result")
    data, mime = await _generation(request).media_of(
        current_user(request).id, _job_id(request), int(raw)
    )
    headers = {"Cache-Control": "private", "X-Content-Type-Options": "nosniff"}
    return web.Response(body=data, content_type=mime, headers=headers)


class StatsQuery(BaseModel):
    days: int = Field(default=7, ge=1, le=90)


@routes.route(
    "GET",
    "/admin/analytics/ai",
    summary="AI jobs per day and provider: success rate, latency, cost against revenue (admins)",
    response=ProviderDay,
    many=True,
    query=StatsQuery,
    errors=(AdminOnly,),
)
async def analytics(request: web.Request) -> web.Response:
    query = read_query(request, StatsQuery)
    if not is_admin(current_user(request)):
        raise AdminOnly("only admins may read analytics")
    async with context_of(request).db.service() as session:
        rows = await ai_stats(session, query.days)
    return ok(request, list[BaseModel](rows))


def provider_webhooks(services: Services) -> list[ProviderWebhook]:
    """`POST /webhooks/ai/<provider>` for each configured provider that calls back."""
    generation = services.generation

    def handler(provider: Provider) -> ProviderHandler:
        async def handle(request: web.Request, body: bytes) -> web.StreamResponse:
            try:
                # Checked by `receive` with every other value the callback carries.
                reference = request.query.get("ref") or None
                await receive(generation.db, provider, request.headers, body, reference)
            except WebhookRejected:
                return web.json_response({"ok": False}, status=401)
            return web.json_response({"ok": True})

        return handle

    return [
        ProviderWebhook(f"ai/{name}", handler(provider))
        for name, provider in generation.providers.items()
        if provider.webhooks
    ]
