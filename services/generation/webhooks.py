"""Provider callbacks: verified by the adapter, deduplicated, and turned into a nudge.

The handler answers at once; the work is the worker's: the job's next step is made due now,
and that step reads the provider's status as it would when polling. A redelivered callback
(same delivery id) changes nothing; a forged one is refused before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text

from db.database import Database
from services.generation.providers import Provider

_SEEN = text(
    "INSERT INTO ai.webhook_receipts (provider, delivery_id) VALUES (:provider, :delivery)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)
_NUDGE = text(
    "UPDATE ai.jobs SET next_step_at = now() WHERE provider = :provider AND provider_job_id = :pid"
    " AND status IN ('queued', 'running')"
)


async def receive(
    db: Database, provider: Provider, headers: Mapping[str, str], body: bytes
) -> bool:
    """Whether the callback was new. Raises WebhookRejected (not the provider's)."""
    event = provider.parse_webhook(headers, body)
    async with db.service() as session:
        new = await session.scalar(
            _SEEN, {"provider": provider.name, "delivery": event.delivery_id[:200]}
        )
        if new:
            await session.execute(_NUDGE, {"provider": provider.name, "pid": event.job_id})
    return bool(new)
