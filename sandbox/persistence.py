"""The sandbox's state kept in a directory (DATA_DIR/sandbox in local mode).

Telegram does not forget a chat, a file or a payment when a client restarts, and its ids
never start again: a button under an old message must still name that message. So the
state is written to `state.json` (atomically, a moment after each change and at shutdown)
and file contents to `files/`, and read back on start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sandbox.botapi import BotApiServer
from sandbox.state import ChatLog, Invoice, Payment, StoredFile

log = logging.getLogger(__name__)
FORMAT = 1
SAVE_DELAY = 0.3
SAVE_PAUSE_FACTOR = 9


class SandboxStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.state_file = directory / "state.json"
        self.files = directory / "files"
        self._saved_revision = -1

    # --- reading --------------------------------------------------------------------------

    def load(self, server: BotApiServer) -> None:
        """Restore what a previous run kept; a missing or damaged file starts empty."""
        try:
            saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except ValueError:
            log.warning("sandbox state in %s is damaged; starting with empty chats", self.directory)
            return
        try:
            self._restore(server, saved)
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("sandbox state in %s is damaged; starting with empty chats", self.directory)

    def _restore(self, server: BotApiServer, saved: dict[str, Any]) -> None:
        if saved.get("format") != FORMAT:
            raise ValueError("unknown format")
        chats = {int(k): ChatLog(**v) for k, v in saved["chats"].items()}
        files = {f["file_id"]: self._read_file(f) for f in saved["files"]}
        invoices = {i["slug"]: Invoice(**i) for i in saved["invoices"]}
        payments = {p["telegram_payment_charge_id"]: Payment(**p) for p in saved["payments"]}
        commands = {
            (tuple(scope), language): commands for scope, language, commands in saved["commands"]
        }
        last_message_ids = {int(k): int(v) for k, v in saved["last_message_ids"].items()}
        counters = [int(saved[name]) for name in ("last_update_id", "last_callback_id")]
        last_file_number = int(saved["last_file_number"])
        # Everything read: only now replace what this run started with.
        state = server.state
        state.chats, state.files, state.invoices, state.payments = chats, files, invoices, payments
        state.blocked = {int(chat_id) for chat_id in saved["blocked"]}
        state.last_message_ids = last_message_ids
        state.last_update_id, state.last_callback_id = counters
        state.last_file_number = last_file_number
        server.updates = list(saved["updates"])
        server.commands = commands
        self._saved_revision = state.revision

    def _read_file(self, saved: dict[str, Any]) -> StoredFile:
        stored = StoredFile(**{k: v for k, v in saved.items() if k != "stored"}, data=None)
        if saved["stored"]:
            with contextlib.suppress(OSError):
                stored.data = (self.files / stored.file_unique_id).read_bytes()
        return stored

    # --- writing --------------------------------------------------------------------------

    def save(self, server: BotApiServer) -> None:
        state = server.state
        revision = state.revision
        self.files.mkdir(parents=True, exist_ok=True)
        files = []
        for stored in state.files.values():
            if stored.data is not None:
                path = self.files / stored.file_unique_id
                if not path.exists():
                    _write_atomically(path, stored.data)
            saved = {k: v for k, v in asdict(stored).items() if k != "data"}
            files.append(saved | {"stored": stored.data is not None})
        snapshot = {
            "format": FORMAT,
            "chats": {
                str(chat_id): {k: v for k, v in asdict(log_).items() if k != "action"}
                for chat_id, log_ in state.chats.items()
            },
            "files": files,
            "invoices": [asdict(invoice) for invoice in state.invoices.values()],
            "payments": [asdict(payment) for payment in state.payments.values()],
            "blocked": sorted(state.blocked),
            "last_message_ids": {str(k): v for k, v in state.last_message_ids.items()},
            "last_update_id": state.last_update_id,
            "last_callback_id": state.last_callback_id,
            "last_file_number": state.last_file_number,
            "updates": server.updates,
            "commands": [
                [list(scope), language, commands]
                for (scope, language), commands in server.commands.items()
            ],
        }
        data = json.dumps(snapshot, ensure_ascii=False, separators=(",", ":")).encode()
        _write_atomically(self.state_file, data)
        self._saved_revision = revision

    async def keep(self, server: BotApiServer) -> None:
        """Save a moment after each change, until cancelled; then save what is left.

        A save writes the whole state on the loop the platform shares, so the pause after one
        is at least `SAVE_PAUSE_FACTOR` times as long as it took: however large the state grows
        (a benchmark's thousands of notices), saving takes at most a tenth of the process.
        """
        delay = SAVE_DELAY
        try:
            while True:
                await asyncio.sleep(delay)
                if server.state.revision != self._saved_revision:
                    began = time.monotonic()
                    try:
                        self.save(server)
                    except OSError as exc:  # a full disk costs persistence, not the sandbox
                        log.warning("could not keep the sandbox state: %s", exc)
                    delay = max(SAVE_DELAY, SAVE_PAUSE_FACTOR * (time.monotonic() - began))
        finally:
            if server.state.revision != self._saved_revision:
                self.save(server)


def _write_atomically(path: Path, data: bytes) -> None:
    """A crash mid-write leaves the previous file, never half of the new one."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    os.replace(temporary, path)
