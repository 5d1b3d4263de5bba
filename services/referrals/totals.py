"""`referrals.totals`: per referrer and level, the sums of rewards on hold and paid.

Every writer locks its rows in (level, referrer) order and before the ledger's account locks,
so two transactions never wait on each other crosswise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from uuid import UUID

from sqlalchemy import text

from db.database import ServiceTx

_ADD_PENDING = text(
    """
    INSERT INTO referrals.totals (referrer_id, level, pending)
    SELECT x.referrer, x.level, x.amount
      FROM unnest(CAST(:referrers AS uuid[]), CAST(:levels AS smallint[]),
                  CAST(:amounts AS numeric[])) AS x(referrer, level, amount)
     ORDER BY x.level, x.referrer
    ON CONFLICT (referrer_id, level)
    DO UPDATE SET pending = referrals.totals.pending + excluded.pending
    """
)
_LOCK_TOTALS = text(
    """
    SELECT 1 FROM referrals.totals t
      JOIN unnest(CAST(:referrers AS uuid[]), CAST(:levels AS smallint[])) AS x(referrer, level)
        ON t.referrer_id = x.referrer AND t.level = x.level
     ORDER BY t.level, t.referrer_id FOR UPDATE OF t
    """
)
_RESOLVE_TOTALS = text(
    """
    UPDATE referrals.totals t
       SET pending = t.pending - x.amount, available = t.available + x.paid
      FROM (SELECT y.referrer, y.level, sum(y.amount) AS amount,
                   coalesce(sum(y.amount) FILTER (WHERE y.posted), 0) AS paid
              FROM unnest(CAST(:referrers AS uuid[]), CAST(:levels AS smallint[]),
                          CAST(:amounts AS numeric[]), CAST(:posted AS boolean[]))
                   AS y(referrer, level, amount, posted)
             GROUP BY y.referrer, y.level) x
     WHERE t.referrer_id = x.referrer AND t.level = x.level
    """
)


class Resolved(Protocol):
    @property
    def referrer_id(self) -> UUID: ...
    @property
    def level(self) -> int: ...
    @property
    def amount(self) -> int: ...


async def resolve_totals(
    session: ServiceTx, posted: Sequence[Resolved], voided: Sequence[Resolved]
) -> None:
    """Rewards left the hold: paid, or voided. One pass locks every row concerned in order."""
    rows = [(r, True) for r in posted] + [(r, False) for r in voided]
    if not rows:
        return
    params = {
        "referrers": [r.referrer_id for r, _ in rows],
        "levels": [r.level for r, _ in rows],
        "amounts": [r.amount for r, _ in rows],
        "posted": [paid for _, paid in rows],
    }
    await session.execute(_LOCK_TOTALS, params)
    await session.execute(_RESOLVE_TOTALS, params)


async def add_pending(
    session: ServiceTx, referrers: list[UUID], levels: list[int], amounts: list[int]
) -> None:
    """New holds (one per level)."""
    await session.execute(
        _ADD_PENDING, {"referrers": referrers, "levels": levels, "amounts": amounts}
    )
