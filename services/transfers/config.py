"""The token settings the front doors need, built once at the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from services.errors import ValidationError
from services.ledger.amounts import parse_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS
from services.ledger.schemas import Asset
from services.ledger.service import AssetRegistry
from services.ledger.welcome import welcome_bonus
from services.users.service import OnCreated

BPS = 10_000


@dataclass(frozen=True)
class P2PRules:
    """`minimum` and `daily_limit` are human amounts, read in each asset's own unit."""

    fee_bps: int = 50
    minimum: str = "0.01"
    daily_limit: str = "100000"

    def fee(self, amount: int) -> int:
        """Rounded down: the remainder of the division stays with the sender."""
        return amount * self.fee_bps // BPS

    def minimum_units(self, asset: Asset) -> int:
        return _units(self.minimum, asset)

    def daily_limit_units(self, asset: Asset) -> int | None:
        """None when there is no limit ("0")."""
        if self.daily_limit.strip() in {"", "0"}:
            return None
        return _units(self.daily_limit, asset)


def _units(human: str, asset: Asset) -> int:
    return _units_of(human, asset.decimals)


# Settings are parsed on every send: cached, since they and the assets change only on restart.
@lru_cache(maxsize=256)
def _units_of(human: str, decimals: int) -> int:
    try:
        return parse_amount(human, decimals)
    except ValidationError:
        # A setting finer than the asset's unit rounds up to the smallest unit.
        return 1


@dataclass(frozen=True)
class LedgerConfig:
    welcome_bonus: int = 20_000_000
    p2p: P2PRules = field(default_factory=P2PRules)
    assets: AssetRegistry = field(default_factory=AssetRegistry)

    @property
    def on_created(self) -> tuple[OnCreated, ...]:
        hook = welcome_bonus(self.welcome_bonus)
        return (hook,) if hook is not None else ()


def ledger_config(
    *, welcome_bonus: str, fee_bps: int, min_amount: str, daily_limit: str
) -> LedgerConfig:
    """From the settings' human amounts; the welcome bonus is in the default asset."""
    zero = welcome_bonus.strip("0.") == ""
    bonus = 0 if zero else parse_amount(welcome_bonus, DEFAULT_ASSET_DECIMALS)
    return LedgerConfig(
        welcome_bonus=bonus,
        p2p=P2PRules(fee_bps=fee_bps, minimum=min_amount, daily_limit=daily_limit),
    )
