"""A route registry: the same declaration wires aiohttp and writes the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from services.errors import DomainError, RateLimited, ValidationError
from webapp_api import idempotency
from webapp_api.errors import (
    AUTH_ERRORS,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    InvalidJson,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HeaderParam:
    name: str
    description: str
    required: bool = True
    # JSON Schema of the value; the rule the handler enforces, so clients and fuzzers see it.
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    response: type[BaseModel] | None
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    auth: bool = True
    paginated: bool = False
    # `data` is a list of `response` (always so when paginated).
    many: bool = False
    status: int = 200
    headers: tuple[HeaderParam, ...] = ()
    # What the handler can raise; the edge's own errors are added by `all_errors`.
    errors: tuple[type[DomainError], ...] = ()
    # Run once per (user, Idempotency-Key) by `webapp_api.idempotency` (signed-in routes only):
    # True stores the first response; "ledger" when the route's ledger ids derive from the key
    # and the ledger's record of them is the request's.
    idempotent: bool | Literal["ledger"] = False

    def __post_init__(self) -> None:
        if self.idempotent and not self.auth:
            raise ValueError(f"{self.method} {self.path}: idempotency keys are per user")

    @property
    def all_headers(self) -> tuple[HeaderParam, ...]:
        if not self.idempotent:
            return self.headers
        key = LEDGER_IDEMPOTENCY_KEY if self.idempotent == "ledger" else IDEMPOTENCY_KEY
        return (key, *self.headers)

    # Longer prose for the document, and models it names beyond the request and response
    # (a WebSocket's messages), published under `components.schemas`.
    description: str = ""
    schemas: tuple[type[BaseModel], ...] = ()

    @property
    def all_errors(self) -> tuple[type[DomainError], ...]:
        """Every error the route can answer with: the rate limits in front of every route,
        the auth errors of a signed-in route, body and query validation, the key of an
        idempotent route, then its own."""
        edge: list[type[DomainError]] = [RateLimited]
        if self.auth:
            edge.extend(AUTH_ERRORS)
        if self.body is not None:
            edge.extend((InvalidJson, ValidationError))
        if self.query is not None:
            edge.append(ValidationError)
        if self.idempotent:
            edge.extend((IdempotencyKeyRequired, IdempotencyKeyReused))
        return tuple(dict.fromkeys((*edge, *self.errors)))

    @property
    def mounted_handler(self) -> Handler:
        """What the app mounts: the handler, behind the edge wrappers it declares."""
        if self.idempotent == "ledger":
            return idempotency.ledger_keyed(self.handler, self.body)
        if self.idempotent:
            return idempotency.idempotent(self.handler, self.body)
        return self.handler


IDEMPOTENCY_KEY = HeaderParam(
    idempotency.HEADER, idempotency.DESCRIPTION, schema=idempotency.SCHEMA
)
LEDGER_IDEMPOTENCY_KEY = HeaderParam(
    idempotency.HEADER, idempotency.LEDGER_DESCRIPTION, schema=idempotency.SCHEMA
)


@dataclass
class Routes:
    """One per route module (`webapp_api/routes/<feature>.py`)."""

    tag: str
    specs: list[RouteSpec] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        response: type[BaseModel] | None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        auth: bool = True,
        paginated: bool = False,
        many: bool = False,
        status: int = 200,
        headers: tuple[HeaderParam, ...] = (),
        errors: tuple[type[DomainError], ...] = (),
        idempotent: bool | Literal["ledger"] = False,
        description: str = "",
        schemas: tuple[type[BaseModel], ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(
                RouteSpec(
                    method=method.upper(),
                    path=path,
                    handler=handler,
                    summary=summary,
                    tag=self.tag,
                    response=response,
                    body=body,
                    query=query,
                    auth=auth,
                    paginated=paginated,
                    many=many,
                    status=status,
                    headers=headers,
                    errors=errors,
                    idempotent=idempotent,
                    description=description,
                    schemas=schemas,
                )
            )
            return handler

        return register
