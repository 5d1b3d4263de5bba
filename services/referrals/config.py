"""The referral program's rules, built once from the settings at the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field

BPS = 10_000
MAX_LEVELS = 8


@dataclass(frozen=True)
class FraudRules:
    """Thresholds of the fraud rules (settings REFERRAL_FRAUD_*)."""

    # More new level-1 referees than this within an hour flags the referrer.
    velocity_per_hour: int = 20
    # A referrer with at least this many level-1 referees older than `farm_days`, none of whom
    # ever bought anything, is flagged as a farm.
    farm_referees: int = 10
    farm_days: int = 7
    # This many refunded purchases within 30 days flags the buyer.
    refund_loops: int = 2
    # More rewards than this (VIBE units) created for one referrer in one UTC day flags them.
    daily_cap: int = 10_000_000_000


@dataclass(frozen=True)
class ReferralConfig:
    levels_bps: tuple[int, ...] = (1000, 500, 300, 200, 100, 100, 50, 50)
    hold_days: int = 7
    on_ai_spend: bool = False
    fraud: FraudRules = field(default_factory=FraudRules)

    def __post_init__(self) -> None:
        if len(self.levels_bps) > MAX_LEVELS or any(not 0 <= bps <= BPS for bps in self.levels_bps):
            raise ValueError(f"at most {MAX_LEVELS} levels of 0..{BPS} basis points")

    def reward(self, level: int, amount: int) -> int:
        """floor(amount × bps / 10 000); 0 beyond the configured levels."""
        if not 1 <= level <= len(self.levels_bps):
            return 0
        return amount * self.levels_bps[level - 1] // BPS


def parse_levels(spec: str) -> tuple[int, ...]:
    """REFERRAL_LEVELS_BPS: comma-separated integer basis points, L1 first, at most 8."""
    parts = [part.strip() for part in spec.split(",") if part.strip()]
    if not parts or len(parts) > MAX_LEVELS or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError(f"must be 1 to {MAX_LEVELS} comma-separated integers (basis points)")
    levels = tuple(int(p) for p in parts)
    if any(bps > BPS for bps in levels):
        raise ValueError(f"each level must be at most {BPS} basis points")
    return levels
