"""The P2P daily limit per transferable asset: the rule from `P2PRules`, the use from the
ledger's own counter (`tokens.accounts.daily_debits`, the one `tokens.create_transfers`
checks), so what this shows is what the next send will be held to."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy import text

from db.database import UserTx
from services.ledger.assets import DEFAULT_ASSET
from services.ledger.service import AssetRegistry
from services.spending_limits.schemas import DailyLimitOut
from services.transfers.config import P2PRules
from services.transfers.service import P2P_CODE

# Runs as the user: the accounts policy shows only their own. The day is the ledger's: UTC.
# The clock row comes back even for a user without accounts yet.
_USED_TODAY = text(
    """
    WITH clock AS (SELECT (now() AT TIME ZONE 'UTC')::date AS today)
    SELECT c.today, a.asset,
           CASE WHEN a.daily_debits->>'day' = c.today::text
                THEN coalesce((a.daily_debits->>:code)::numeric, 0) ELSE 0 END AS used
    FROM clock c
    LEFT JOIN tokens.accounts a
           ON a.kind = 'wallet' AND a.user_id = (SELECT auth.current_user_id())
    """
).bindparams(code=P2P_CODE)


async def daily_limits(
    session: UserTx, rules: P2PRules, registry: AssetRegistry
) -> list[DailyLimitOut]:
    """One row per transferable asset, the default asset first (as balances are listed)."""
    assets = await registry.all(session)
    rows = (await session.execute(_USED_TODAY)).all()
    used_by_asset = {row.asset: int(row.used) for row in rows if row.asset is not None}
    resets_at = datetime.combine(rows[0].today + timedelta(days=1), time(0), tzinfo=UTC)
    out = []
    for asset in sorted(assets.values(), key=lambda a: (a.code != DEFAULT_ASSET, a.code)):
        if not asset.transferable:
            continue
        used = used_by_asset.get(asset.code, 0)
        limit = rules.daily_limit_units(asset)
        out.append(
            DailyLimitOut(
                asset=asset.code,
                decimals=asset.decimals,
                limit=None if limit is None else str(limit),
                used=str(used),
                left=None if limit is None else str(max(0, limit - used)),
                resets_at=resets_at,
            )
        )
    return out
