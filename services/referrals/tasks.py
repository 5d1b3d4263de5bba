"""Scheduled work of the referral program. Every instance may run each of these at once:
posting claims rewards with SKIP LOCKED, notices take an advisory lock, and a flag is one
open row per (user, rule), so a second finder only refreshes its evidence."""

from __future__ import annotations

import logging

from db.database import Database
from services.referrals.config import FraudRules
from services.referrals.fraud import scan_daily_caps, scan_farms
from services.referrals.rewards import post_due_rewards, send_reward_notices

log = logging.getLogger(__name__)

__all__ = ["look_for_fraud", "post_due_rewards", "send_reward_notices"]


async def look_for_fraud(db: Database, rules: FraudRules) -> int:
    """The rules that look at many users at once: farms, and daily reward caps."""
    async with db.service() as session:
        farms = await scan_farms(session, rules)
        capped = await scan_daily_caps(session, rules)
    if farms or capped:
        log.warning("flagged %d possible farms, %d referrers over the daily cap", farms, capped)
    return farms + capped
