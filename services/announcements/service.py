"""Announcements: drafted, previewed, decided once, then fanned out in crash-safe batches.

On confirmation (one transaction) the announcement is marked confirmed and published on the
`announcements` realtime channel, so every connected Mini App shows it at once. The bot copies
go through the outbox: `fan_out_batch` enqueues the next users (by id) and moves the cursor in
the same transaction, each row with the dedup key `announce:<id>:<user>`. A process that dies
mid-broadcast loses at most its open batch (rolled back, cursor unmoved) and whoever takes
over starts after the cursor; the dedup key is the backstop: nobody is enqueued twice, and
the outbox sends each row once. The outbox paces the sends at Telegram's rate.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import text

from db.database import Database, ServiceTx
from services.announcements.errors import AnnouncementDecided, InvalidAnnouncement
from services.i18n.languages import DEFAULT_LANGUAGE, SUPPORTED_LANGUAGES
from services.realtime.service import publish

# The outbox template whose text is the announcement's own HTML (services/notifications).
TEMPLATE = "announcement"
BATCH = 500
MAX_HTML = 4096
MAX_BUTTON_TEXT = 64
MAX_BUTTON_URL = 512


@dataclass(frozen=True)
class Draft:
    html: str
    button_text: str | None = None
    button_url: str | None = None
    language: str | None = None

    def __post_init__(self) -> None:
        if not 0 < len(self.html) <= MAX_HTML or "\x00" in self.html:
            raise InvalidAnnouncement("the text is empty or too long")
        if (self.button_text is None) != (self.button_url is None):
            raise InvalidAnnouncement("a button needs a label and a link")
        if self.button_text is not None and not 0 < len(self.button_text) <= MAX_BUTTON_TEXT:
            raise InvalidAnnouncement("the button label is empty or too long")
        if self.button_url is not None and (
            not self.button_url.startswith("https://")
            or len(self.button_url) > MAX_BUTTON_URL
            or any(c.isspace() or ord(c) < 32 for c in self.button_url)
        ):
            raise InvalidAnnouncement("the button link must be an https:// address")
        if self.language is not None and self.language not in SUPPORTED_LANGUAGES:
            raise InvalidAnnouncement("unknown language")

    def reply_markup(self) -> dict[str, Any] | None:
        if self.button_text is None:
            return None
        return {"inline_keyboard": [[{"text": self.button_text, "url": self.button_url}]]}


@dataclass(frozen=True)
class Status:
    audience: int
    sent: int
    failed: int
    blocked: int
    remaining: int
    fanned_out: bool


# The user's language as the bot speaks it (services.users.language_for, in SQL).
_LANGUAGE = (
    "CASE WHEN u.language = ANY(:languages) THEN u.language"
    " WHEN lower(split_part(coalesce(u.language_code, ''), '-', 1)) = ANY(:languages)"
    " THEN lower(split_part(u.language_code, '-', 1)) ELSE :default_language END"
)
_AUDIENCE = (
    "u.bot_blocked_at IS NULL AND u.deleted_at IS NULL AND u.banned_at IS NULL"
    f" AND (CAST(:language AS text) IS NULL OR {_LANGUAGE} = :language)"
)
_LANGUAGES = {"languages": list(SUPPORTED_LANGUAGES), "default_language": DEFAULT_LANGUAGE}

_CREATE = text(
    """
    INSERT INTO ops.announcements
        (source, created_by, chat_id, html, button_text, button_url, language)
    VALUES (:source, :created_by, :chat_id, :html, :button_text, :button_url, :language)
    ON CONFLICT (source) DO UPDATE SET source = EXCLUDED.source
    RETURNING id
    """
)
_COUNT = text(f"SELECT count(*) FROM auth.users u WHERE {_AUDIENCE}")
_DECIDE = text(
    """
    UPDATE ops.announcements SET {column} = now()
     WHERE id = :id AND confirmed_at IS NULL AND cancelled_at IS NULL
    RETURNING html, button_text, button_url, language
    """
)
_NEXT = text(
    """
    SELECT id, cursor, html, button_text, button_url, language FROM ops.announcements
     WHERE confirmed_at IS NOT NULL AND fanned_out_at IS NULL
     ORDER BY confirmed_at LIMIT 1
       FOR UPDATE SKIP LOCKED
    """
)
_BATCH_USERS = text(
    f"""
    SELECT u.id, u.telegram_id FROM auth.users u
     WHERE u.id > coalesce(CAST(:cursor AS uuid), '00000000-0000-0000-0000-000000000000')
       AND {_AUDIENCE}
     ORDER BY u.id LIMIT :batch
    """
)
_ENQUEUE = text("SELECT ops.enqueue(CAST(:messages AS jsonb))")
_ADVANCE = text(
    """
    UPDATE ops.announcements
       SET cursor = coalesce(CAST(:cursor AS uuid), cursor), enqueued = enqueued + :added,
           fanned_out_at = CASE WHEN :done THEN now() END
     WHERE id = :id
    """
)
_LATEST = text(
    """
    SELECT id, cursor, language, fanned_out_at IS NOT NULL AS done FROM ops.announcements
     WHERE confirmed_at IS NOT NULL ORDER BY confirmed_at DESC LIMIT 1
    """
)
_OUTBOX = text(
    "SELECT status, count(*) FROM ops.outbox WHERE dedup_key LIKE :prefix GROUP BY status"
)
_LEFT = text(
    f"""
    SELECT count(*) FROM auth.users u
     WHERE u.id > coalesce(CAST(:cursor AS uuid), '00000000-0000-0000-0000-000000000000')
       AND {_AUDIENCE}
    """
)


async def create(
    session: ServiceTx, *, source: str, created_by: UUID, chat_id: int, draft: Draft
) -> tuple[UUID, int]:
    """A draft (the same `source`, a re-delivered update, gives the same one) and how many
    users it would reach now."""
    announcement = (
        await session.execute(
            _CREATE,
            {
                "source": source,
                "created_by": created_by,
                "chat_id": chat_id,
                "html": draft.html,
                "button_text": draft.button_text,
                "button_url": draft.button_url,
                "language": draft.language,
            },
        )
    ).scalar_one()
    audience = (
        await session.execute(_COUNT, {"language": draft.language, **_LANGUAGES})
    ).scalar_one()
    return announcement, int(audience)


async def confirm(session: ServiceTx, announcement: UUID) -> Draft:
    """Decided once: the Mini Apps get it with this commit, the fan-out starts after it.
    Raises AnnouncementDecided when it was already confirmed or cancelled."""
    row = (
        await session.execute(
            text(_DECIDE.text.format(column="confirmed_at")), {"id": announcement}
        )
    ).one_or_none()
    if row is None:
        raise AnnouncementDecided("this announcement was already confirmed or cancelled")
    draft = Draft(row.html, row.button_text, row.button_url, row.language)
    button = {"text": draft.button_text, "url": draft.button_url} if draft.button_text else None
    await publish(
        session,
        "announcements",
        "announcement",
        {
            "announcement_id": str(announcement),
            "html": draft.html,
            "button": button,
            "language": draft.language,
        },
    )
    return draft


async def cancel(session: ServiceTx, announcement: UUID) -> None:
    """Raises AnnouncementDecided when it was already confirmed or cancelled."""
    row = (
        await session.execute(
            text(_DECIDE.text.format(column="cancelled_at")), {"id": announcement}
        )
    ).one_or_none()
    if row is None:
        raise AnnouncementDecided("this announcement was already confirmed or cancelled")


def _messages(announcement: UUID, draft: Draft, users: Sequence[Any]) -> str:
    markup = draft.reply_markup()
    return json.dumps(
        [
            {
                "chat_id": telegram_id,
                "user_id": str(user_id),
                "template": TEMPLATE,
                "params": {"html": draft.html},
                "reply_markup": markup,
                "dedup_key": f"announce:{announcement}:{user_id}",
            }
            for user_id, telegram_id in users
        ]
    )


async def fan_out_batch(session: ServiceTx, batch: int = BATCH) -> int | None:
    """Enqueue the next `batch` users of the oldest announcement still fanning out, and move
    its cursor, in the caller's transaction. None when no announcement is waiting (or each is
    being fanned out by another process); else how many were enqueued."""
    row = (await session.execute(_NEXT)).one_or_none()
    if row is None:
        return None
    draft = Draft(row.html, row.button_text, row.button_url, row.language)
    users = (
        await session.execute(
            _BATCH_USERS,
            {"cursor": row.cursor, "batch": batch, "language": row.language, **_LANGUAGES},
        )
    ).all()
    added = 0
    if users:
        added = int(
            (
                await session.execute(_ENQUEUE, {"messages": _messages(row.id, draft, users)})
            ).scalar_one()
        )
    await session.execute(
        _ADVANCE,
        {
            "id": row.id,
            "cursor": users[-1][0] if users else None,
            "added": added,
            "done": len(users) < batch,
        },
    )
    return added


async def fan_out(db: Database, batch: int = BATCH) -> int:
    """Every waiting announcement, batch by batch, each batch its own transaction; returns
    how many messages were enqueued. Safe to run in any number of processes at once."""
    total = 0
    while True:
        async with db.service() as session:
            added = await fan_out_batch(session, batch)
        if added is None:
            return total
        total += added


async def latest_status(session: ServiceTx) -> Status | None:
    """The most recently confirmed announcement's delivery, from the outbox: remaining counts
    what is queued and the users not enqueued yet."""
    row = (await session.execute(_LATEST)).one_or_none()
    if row is None:
        return None
    counts = {
        status: int(n)
        for status, n in (await session.execute(_OUTBOX, {"prefix": f"announce:{row.id}:%"})).all()
    }
    left = 0
    if not row.done:
        left = int(
            (
                await session.execute(
                    _LEFT, {"cursor": row.cursor, "language": row.language, **_LANGUAGES}
                )
            ).scalar_one()
        )
    queued = counts.get("pending", 0) + counts.get("sending", 0)
    return Status(
        audience=sum(counts.values()) + left,
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        blocked=counts.get("blocked", 0),
        remaining=queued + left,
        fanned_out=bool(row.done),
    )
