"""`python -m bot [--role all|bot|api|worker]` runs the platform; `... migrate` only migrates."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from app.components import owner_database
from app.logging_setup import configure_logging
from app.run import Role, run
from app.settings import Settings, SettingsError, load_settings
from db.embedded import DataDirLocked
from db.migrate import upgrade


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Good Vibe Live platform")
    parser.add_argument("command", nargs="?", choices=["run", "migrate"], default="run")
    parser.add_argument("--role", choices=[r.value for r in Role], default=Role.ALL.value)
    return parser.parse_args(argv)


async def _migrate(settings: Settings) -> None:
    async with owner_database(settings) as owner_url:
        await upgrade(owner_url)


async def _run(settings: Settings, role: Role) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await run(settings, role, stop)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    try:
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
            print("migrations applied")
        else:
            asyncio.run(_run(settings, Role(args.role)))
    except DataDirLocked as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, DBAPIError) as exc:
        # Unreachable server, refused login, missing database: say so in one line.
        where = (
            make_url(settings.database_url).render_as_string()
            if settings.database_url
            else "embedded"
        )
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        print(f"error: cannot use the database ({where}): {reason}", file=sys.stderr)
        return 1
    return 0
