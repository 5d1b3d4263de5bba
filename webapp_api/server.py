"""The HTTP server around the app: even a request aiohttp cannot parse is answered in the envelope.

aiohttp answers parser errors (a header or request line over 8 KB, bad bytes, a negative
Content-Length) itself, before any middleware, as plain text that quotes part of the request
line, which may carry the `Authorization` value. Its `RequestHandler.handle_error` builds that
answer; ours builds the envelope with a stable code instead and echoes nothing, and logs the
error's type, not its message (which quotes the request too).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMethod, LineTooLong

from webapp_api.envelope import REQUEST_ID_KEY, fail

log = logging.getLogger(__name__)

# code, status, message; aiohttp says 400 for every parser error.
_TOO_LARGE = ("header_too_large", 431, "The request line or a header is too large")
_BAD = ("bad_request", 400, "The request could not be parsed")
_INTERNAL = ("internal_error", 500, "Internal server error")


class EnvelopeRequestHandler(web.RequestHandler):
    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if request.writer.output_size > 0:
            # As aiohttp: part of a response went out, so the connection is beyond repair.
            raise ConnectionError("response already started, cannot send an error")
        if status >= 500:
            log.error("unhandled error on %s", request.path, exc_info=exc)
            code, status, text = _INTERNAL
        else:
            code, status, text = _TOO_LARGE if isinstance(exc, LineTooLong) else _BAD
            # Port scanners and TLS on the plain port send garbage all day: not worth a warning.
            level = logging.DEBUG if isinstance(exc, BadHttpMethod) else logging.INFO
            log.log(level, "refused an unparsable request: %s", type(exc).__name__)
        request[REQUEST_ID_KEY] = uuid.uuid4().hex
        response = fail(request, status, code, text)  # type: ignore[arg-type]
        response.headers["X-Request-ID"] = request[REQUEST_ID_KEY]
        response.force_close()
        return response


class _EnvelopeServer(web.Server):
    def __call__(self) -> web.RequestHandler:
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class _EnvelopeRunner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        # The app's own server (startup run, app frozen, its handler and request factory),
        # rebuilt as the same server with our request handler class.
        server = await super()._make_server()
        return _EnvelopeServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


def make_runner(app: web.Application, **kwargs: Any) -> web.AppRunner:
    """`web.AppRunner(app, **kwargs)` whose connections answer parser errors in the envelope."""
    return _EnvelopeRunner(app, **kwargs)
