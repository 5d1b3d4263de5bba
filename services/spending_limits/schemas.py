"""The daily P2P limit of one asset, as a user sees it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class DailyLimitOut(BaseModel):
    asset: str
    decimals: int
    limit: str | None = Field(
        description="Most the user may send per UTC day, in smallest units; null: no limit"
    )
    used: str = Field(description="Sent today (the fee not counted), in smallest units")
    left: str | None = Field(description="`limit - used`, never below 0; null: no limit")
    resets_at: datetime = Field(description="When `used` starts again from 0 (UTC midnight)")
