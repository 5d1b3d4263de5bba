"""Local mode: the sandbox (Bot API + web chat) on its own port, beside the platform.

It has its own port so nothing of it sits on the platform's HTTP app: the real-token path
never sees a sandbox route, and the sandbox never sees the API's middlewares.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sandbox import webchat
from sandbox.botapi import BotApiServer
from sandbox.persistence import SandboxStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunningSandbox:
    server: BotApiServer
    base_url: str

    @property
    def token(self) -> str:
        return self.server.token

    @property
    def api_base(self) -> str:
        """What TELEGRAM_API_BASE would be: the bot calls `{api_base}/bot<token>/<method>`."""
        return self.base_url

    @property
    def webchat_url(self) -> str:
        return f"{self.base_url}/sandbox/"

    @property
    def initdata_public_key(self) -> str:
        """The Ed25519 public key (hex) that checks the initData `signature` it hands out."""
        return self.server.initdata_public_key

    @property
    def shim_url(self) -> str:
        """The local stand-in for telegram.org's telegram-web-app.js."""
        return f"{self.base_url}/sandbox/telegram-web-app.js"


def sandbox_app(server: BotApiServer, webapp_url: str) -> web.Application:
    app = server.app()
    webchat.add_routes(app, server, webapp_url=webapp_url)
    return app


@contextlib.asynccontextmanager
async def run_sandbox(
    token: str,
    host: str,
    port: int,
    *,
    webapp_url: str,
    users_file: Path | None = None,
    signing_key: Ed25519PrivateKey | None = None,
    state_dir: Path | None = None,
) -> AsyncIterator[RunningSandbox]:
    """Serve the sandbox until the block ends; port 0 picks a free one. Without
    `signing_key` the initData `signature` comes from a key made for this run; without
    `state_dir` chats, files and payments last only as long as the run."""
    # A long-running sandbox keeps only recent calls; nobody asserts on them here.
    server = BotApiServer(token, max_calls=1000)
    if signing_key is not None:
        server.initdata_key = signing_key
    server.state.users_file = users_file
    server.state.load_users()
    store = SandboxStore(state_dir) if state_dir is not None else None
    if store is not None:
        store.load(server)
    webchat.seed_users(server)
    # Its long requests are long polls (getUpdates, the web chat's reads) with nothing to finish;
    # one the client has already given up on would otherwise hold the shutdown for the timeout.
    runner = web.AppRunner(sandbox_app(server, webapp_url), access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = port
    for address in runner.addresses:
        if isinstance(address, tuple):
            bound_port = int(address[1])
            break
    shown_host = f"[{host}]" if ":" in host else host
    keeper = asyncio.create_task(store.keep(server)) if store is not None else None
    try:
        yield RunningSandbox(server, f"http://{shown_host}:{bound_port}")
    finally:
        await runner.cleanup()
        if keeper is not None:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
