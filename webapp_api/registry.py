"""A route registry: the same declaration wires aiohttp and writes the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HeaderParam:
    name: str
    description: str
    required: bool = True


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
    status: int = 200
    headers: tuple[HeaderParam, ...] = ()
    errors: tuple[str, ...] = ()


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
        status: int = 200,
        headers: tuple[HeaderParam, ...] = (),
        errors: tuple[str, ...] = (),
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
                    status=status,
                    headers=headers,
                    errors=errors,
                )
            )
            return handler

        return register
