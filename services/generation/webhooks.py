"""Provider callbacks: verified by the adapter, deduplicated, and turned into a nudge.

The handler answers at once; the work is the worker's: the job's next step is made due now,
and that step reads the provider's status as it would when polling. A redelivered callback
(same delivery id) changes nothing; a forged one is refused before anything is written.

A callback also carries our submit reference (in the callback URL's `ref`, or echoed in the
body, e.g. midjourney-proxy's `state`). When a worker died between a submit and recording
its answer, the job has no provider job id yet, only that reference: the callback binds the
provider's id to it, so the job is followed instead of being submitted again. Only a job still
waiting on that very submit is bound (same provider, same reference, no id yet). The bound
handle keeps the reference (`ref`), and an adapter whose callbacks are unsigned checks it
against what the provider echoes when it reads the job (midjourney-proxy's `state`, sunoapi's
`param.callBackUrl`), so a forged callback cannot bind a job to another job's result.

Nothing in an unsigned callback is trusted to be text PostgreSQL can store: every id and
reference is checked here, once, before any SQL (visible ASCII, bounded), and a callback that
fails is refused like a forged one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import text

from db.database import Database
from services.generation.providers import Provider, WebhookEvent, WebhookRejected

MAX_ID = 200
# Provider ids, delivery ids and our references: visible ASCII. No NUL, control character,
# unpaired surrogate or look-alike can reach a query, and ids compare byte for byte.
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID}}}")
# Our submit references are `<job uuid>-<try>`; a callback URL's `ref` is one of them.
_REF = re.compile(rf"[A-Za-z0-9_.:-]{{1,{MAX_ID}}}")

_SEEN = text(
    "INSERT INTO ai.webhook_receipts (provider, delivery_id) VALUES (:provider, :delivery)"
    " ON CONFLICT DO NOTHING RETURNING 1"
)
_NUDGE = text(
    "UPDATE ai.jobs SET next_step_at = now() WHERE provider = :provider AND provider_job_id = :pid"
    " AND status IN ('queued', 'running')"
)
_BIND = text(
    "UPDATE ai.jobs SET provider = :provider, provider_job_id = :pid, status = 'running',"
    " provider_state = jsonb_build_object('ref', CAST(:ref AS text)),"
    " started_at = coalesce(started_at, now()), submit_provider = NULL, submit_ref = NULL,"
    " submit_at = NULL, next_step_at = now()"
    " WHERE submit_provider = :provider AND submit_ref = :ref AND provider_job_id IS NULL"
    " AND status IN ('queued', 'running')"
)


async def receive(
    db: Database,
    provider: Provider,
    headers: Mapping[str, str],
    body: bytes,
    reference: str | None = None,
) -> bool:
    """Whether the callback was new. `reference`: the callback URL's `ref`, as received.
    Raises WebhookRejected (not the provider's, or carrying what no id of ours can be)."""
    event = provider.parse_webhook(headers, body)
    delivery, pid, ref = _checked(event, reference)
    async with db.service() as session:
        new = await session.scalar(_SEEN, {"provider": provider.name, "delivery": delivery})
        if new:
            if ref:
                await session.execute(_BIND, {"provider": provider.name, "pid": pid, "ref": ref})
            await session.execute(_NUDGE, {"provider": provider.name, "pid": pid})
    return bool(new)


def _checked(event: WebhookEvent, reference: str | None) -> tuple[str, str, str | None]:
    """(delivery id, provider job id, our reference or None). Raises WebhookRejected."""
    for value in (event.delivery_id, event.job_id):
        if not isinstance(value, str) or _ID.fullmatch(value) is None:
            raise WebhookRejected("a callback id that is not a provider's")
    for ref in (event.reference, reference):
        if ref and (not isinstance(ref, str) or _REF.fullmatch(ref) is None):
            raise WebhookRejected("a callback reference that is not ours")
    return event.delivery_id, event.job_id, event.reference or reference or None
