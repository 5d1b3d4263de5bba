"""What the fake Telegram remembers: people, their chats with the bot, files, invoices, payments.

It lives in memory and, in local mode, is kept in DATA_DIR (sandbox/persistence.py), so a
restart behaves like Telegram's: history, files, payments and every id continue. The
platform's own database stays the source of truth for anything the product cares about.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# Telegram keeps the last messages of a chat for the client; the web chat needs no more.
CHAT_HISTORY = 300


@dataclass
class LocalUser:
    """A person the web chat can act as."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str = "en"
    is_premium: bool = False

    def telegram(self) -> dict[str, Any]:
        """The `User` object Telegram puts in updates (and, minus is_bot, in initData)."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        user["language_code"] = self.language_code
        if self.is_premium:
            user["is_premium"] = True
        return user

    def web_app_user(self) -> dict[str, Any]:
        user = {k: v for k, v in self.telegram().items() if k != "is_bot"}
        user["allows_write_to_pm"] = True
        return user


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str
    data: bytes | None
    mime_type: str | None
    file_name: str | None
    file_path: str
    url: str | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


@dataclass
class Invoice:
    slug: str
    title: str
    description: str
    payload: str
    currency: str
    total_amount: int
    chat_id: int | None = None
    message_id: int | None = None


@dataclass
class Payment:
    telegram_payment_charge_id: str
    user_id: int
    invoice_payload: str
    currency: str
    total_amount: int
    refunded: bool = False
    # When the payment and its refund happened, and their places in the bot's list of Star
    # transactions (getStarTransactions lists them oldest first; a refund is a transaction).
    date: int = 0
    seq: int = 0
    refund_date: int | None = None
    refund_seq: int | None = None


@dataclass
class ChatLog:
    """One private chat as its client sees it; `version` moves on every change."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None
    # The bot's last sendChatAction ("typing", …), when, and the chat's newest message id then:
    # clients show it for 5 s or until a new message arrives.
    action: tuple[str, float, int] | None = None
    version: int = 0

    def last_message_id(self) -> int:
        return int(self.messages[-1]["message_id"]) if self.messages else 0

    def find(self, message_id: int) -> dict[str, Any] | None:
        return next((m for m in self.messages if m["message_id"] == message_id), None)


@dataclass
class SandboxState:
    users: dict[int, LocalUser] = field(default_factory=dict)
    chats: dict[int, ChatLog] = field(default_factory=dict)
    files: dict[str, StoredFile] = field(default_factory=dict)
    invoices: dict[str, Invoice] = field(default_factory=dict)
    payments: dict[str, Payment] = field(default_factory=dict)
    # Chats whose person blocked the bot: Telegram refuses to deliver to them (403).
    blocked: set[int] = field(default_factory=set)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    # Where the people made in the web chat are kept, so a restart does not lose them
    # (the platform's database keeps their accounts; this keeps who the web chat can act as).
    users_file: Path | None = None
    # The last id handed out, per chat for messages: ids only grow, as in Telegram, so an old
    # id (a button under an old message, a payment) never names something newer.
    last_message_ids: dict[int, int] = field(default_factory=dict)
    last_update_id: int = 0
    last_callback_id: int = 0
    last_file_number: int = 0
    # Moves on every change worth keeping; the saver writes when it moved.
    revision: int = 0

    def next_message_id(self, chat_id: int) -> int:
        self.last_message_ids[chat_id] = self.last_message_ids.get(chat_id, 0) + 1
        self.revision += 1
        return self.last_message_ids[chat_id]

    def next_star_seq(self) -> int:
        """The place of a new Star transaction: after every payment and refund so far."""
        self.revision += 1
        return 1 + max((max(p.seq, p.refund_seq or 0) for p in self.payments.values()), default=0)

    def next_update_id(self) -> int:
        self.last_update_id += 1
        self.revision += 1
        return self.last_update_id

    def next_callback_id(self) -> int:
        self.last_callback_id += 1
        return self.last_callback_id

    def load_users(self) -> None:
        if self.users_file is None or not self.users_file.exists():
            return
        try:
            saved = json.loads(self.users_file.read_text(encoding="utf-8"))
            for item in saved:
                user = LocalUser(**item)
                self.users[user.id] = user
        except (ValueError, TypeError):
            return  # a damaged file only costs the saved list; the web chat still works

    def save_users(self) -> None:
        if self.users_file is None:
            return
        self.users_file.parent.mkdir(parents=True, exist_ok=True)
        users = [asdict(user) for user in sorted(self.users.values(), key=lambda u: u.id)]
        self.users_file.write_text(json.dumps(users, ensure_ascii=False, indent=1), "utf-8")

    def chat(self, chat_id: int) -> ChatLog:
        return self.chats.setdefault(chat_id, ChatLog())

    def chat_object(self, chat_id: int) -> dict[str, Any]:
        user = self.users.get(chat_id)
        chat: dict[str, Any] = {"id": chat_id, "type": "private"}
        if user is not None:
            chat["first_name"] = user.first_name
            if user.last_name:
                chat["last_name"] = user.last_name
            if user.username:
                chat["username"] = user.username
        return chat

    async def touch(self, chat_id: int) -> None:
        """Wake every web chat page waiting on this chat."""
        log = self.chat(chat_id)
        self.revision += 1
        async with self.changed:
            log.version += 1
            del log.messages[:-CHAT_HISTORY]
            self.changed.notify_all()

    async def add_message(self, chat_id: int, message: dict[str, Any]) -> None:
        self.chat(chat_id).messages.append(message)
        await self.touch(chat_id)

    async def add_notice(self, chat_id: int, kind: str, text: str) -> None:
        """Something the client shows outside the message list (a callback toast, an alert)."""
        log = self.chat(chat_id)
        log.notices.append({"id": len(log.notices) + 1, "kind": kind, "text": text})
        del log.notices[:-20]
        await self.touch(chat_id)

    async def wait_for_change(self, chat_id: int, version: int, wait_seconds: float) -> None:
        async with self.changed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_seconds):
                    await self.changed.wait_for(lambda: self.chat(chat_id).version != version)

    def store_file(
        self,
        kind: str,
        data: bytes | None,
        *,
        mime_type: str | None,
        file_name: str | None,
        url: str | None = None,
    ) -> StoredFile:
        self.last_file_number += 1
        self.revision += 1
        number = self.last_file_number
        extension = (
            (file_name or "").rpartition(".")[2] if file_name and "." in file_name else "bin"
        )
        stored = StoredFile(
            file_id=f"{kind[:3].upper()}{number}_{secrets.token_urlsafe(12)}",
            file_unique_id=f"u{number}{secrets.token_hex(4)}",
            kind=kind,
            data=data,
            mime_type=mime_type,
            file_name=file_name,
            file_path=f"{kind}s/file_{number}.{extension}",
            url=url,
        )
        self.files[stored.file_id] = stored
        return stored

    def file_by_path(self, path: str) -> StoredFile | None:
        return next((f for f in self.files.values() if f.file_path == path), None)

    def new_invoice(self, **fields: Any) -> Invoice:
        invoice = Invoice(slug=secrets.token_urlsafe(12), **fields)
        self.invoices[invoice.slug] = invoice
        self.revision += 1
        return invoice
