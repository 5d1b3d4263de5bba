"""The market's settings, built once at the composition root."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MarketRules:
    """`fee_bps`: the taker's fee on what they receive; `max_open_offers`: per user;
    `offer_ttl`: seconds an offer stays open unless filled or cancelled first."""

    fee_bps: int = 30
    max_open_offers: int = 20
    offer_ttl: int = 7 * 86_400
