"""AI analytics per UTC day and provider, from the attempt records: jobs finished, success
rate, latency from start to finish (p50/p95), what the providers cost against the VIBE taken."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy import text

from db.database import ServiceTx

_STATS = text(
    "SELECT (a.created_at AT TIME ZONE 'UTC')::date AS day, a.provider,"
    "       count(*) AS jobs,"
    "       count(*) FILTER (WHERE a.outcome = 'succeeded') AS succeeded,"
    "       count(*) FILTER (WHERE a.outcome IN ('fallback', 'retry', 'unknown')) AS retried,"
    "       percentile_disc(0.5) WITHIN GROUP (ORDER BY d.ms) AS p50,"
    "       percentile_disc(0.95) WITHIN GROUP (ORDER BY d.ms) AS p95,"
    "       coalesce(sum(a.cost), 0) AS cost,"
    "       coalesce(sum(j.price) FILTER (WHERE a.outcome = 'succeeded'), 0) AS revenue"
    "  FROM ai.attempts a JOIN ai.jobs j ON j.id = a.job_id"
    "  CROSS JOIN LATERAL (SELECT CASE WHEN a.outcome IN ('succeeded', 'failed')"
    "         THEN (extract(epoch FROM a.created_at - coalesce(j.started_at, j.created_at))"
    "               * 1000)::bigint END AS ms) d"
    " WHERE a.created_at >= (current_date - CAST(:days AS integer))::timestamp AT TIME ZONE 'UTC'"
    " GROUP BY 1, 2 ORDER BY 1 DESC, 2"
)


class ProviderDay(BaseModel):
    day: date
    provider: str
    jobs: int = Field(description="Attempts recorded (finished, failed over or retried)")
    succeeded: int
    success_rate: float = Field(description="succeeded / (jobs - retried), 0..1")
    p50_ms: int | None
    p95_ms: int | None
    cost_usd: str = Field(description="Provider cost, USD micro-units as a string")
    revenue: str = Field(description="VIBE posted for the jobs it made, smallest units")


async def ai_stats(session: ServiceTx, days: int = 7) -> list[ProviderDay]:
    rows = (await session.execute(_STATS, {"days": days - 1})).all()
    out = []
    for r in rows:
        finished = r.jobs - r.retried
        out.append(
            ProviderDay(
                day=r.day,
                provider=r.provider,
                jobs=r.jobs,
                succeeded=r.succeeded,
                success_rate=round(r.succeeded / finished, 4) if finished else 0.0,
                p50_ms=r.p50,
                p95_ms=r.p95,
                cost_usd=str(int(r.cost)),
                revenue=str(int(r.revenue)),
            )
        )
    return out
