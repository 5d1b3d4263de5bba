"""The reference Mini App: static files under `/app/`, no build step.

The only server-side touch is which Telegram WebApp script the page loads: telegram.org's in
real Telegram, the local sandbox's shim when the platform runs against the sandbox. The server
decides it, so no URL parameter can make the page load someone else's script.
"""

from __future__ import annotations

import html
from importlib import resources

from aiohttp import web

TELEGRAM_WEB_APP_JS = "https://telegram.org/js/telegram-web-app.js"
MINIAPP = resources.files("webapp_api") / "static" / "miniapp"
_PLACEHOLDER = "{{TELEGRAM_WEB_APP_JS}}"


def miniapp_app(*, telegram_js_url: str) -> web.Application:
    """Mounted at `/app`: the page at `/app/`, its files below it."""
    index = (MINIAPP / "index.html").read_text(encoding="utf-8")
    page = index.replace(_PLACEHOLDER, html.escape(telegram_js_url, quote=True))

    async def serve_index(request: web.Request) -> web.StreamResponse:
        # Telegram opens the page with `?tgWebAppStartParam=gift_<secret>`: no Referer may
        # carry that URL on to the API (or a proxy's log); app.js drops it from the address.
        headers = {"Cache-Control": "no-cache", "Referrer-Policy": "no-referrer"}
        return web.Response(text=page, content_type="text/html", headers=headers)

    async def serve_file(request: web.Request) -> web.StreamResponse:
        parts = request.match_info["path"].split("/")
        if any(not part or part.startswith(".") for part in parts):
            raise web.HTTPNotFound()
        path = MINIAPP.joinpath(*parts)
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(str(path), headers={"Cache-Control": "no-cache"})

    app = web.Application()
    app.router.add_get("/", serve_index)
    app.router.add_get("/{path:.+}", serve_file)
    return app
