from __future__ import annotations

from sqlalchemy import text

from db.database import Database

RETENTION_DAYS = 7
# A chat's pacing row matters for a second after a send (ten for a summary); a day later it
# is dropped, and the chat's next message finds it gone, as a chat never sent to.
IDLE_CHAT_DAYS = 1


async def purge_delivered(db: Database) -> int:
    """Delivered messages are kept a week for support questions, then dropped; so are the
    pacing rows of chats idle for a day. Returns how many messages were dropped."""
    async with db.service() as session:
        result = await session.execute(
            text(
                "DELETE FROM ops.outbox WHERE status = 'sent'"
                " AND sent_at < now() - make_interval(days => :days)"
            ),
            {"days": RETENTION_DAYS},
        )
        await session.execute(
            text(
                "DELETE FROM ops.outbox_chats WHERE greatest(next_send_at, summary_after)"
                " < now() - make_interval(days => :days)"
            ),
            {"days": IDLE_CHAT_DAYS},
        )
    return int(result.rowcount)  # type: ignore[attr-defined]
