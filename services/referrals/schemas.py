"""What the referral views show: levels, totals, referees (public fields only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field

from services.ledger.schemas import Units


class LevelOut(BaseModel):
    level: int = Field(ge=1, le=8)
    referees: int
    pending: Units = Field(description="VIBE units of rewards still on hold")
    available: Units = Field(description="VIBE units of rewards paid out")


class ReferralsOut(BaseModel):
    code: str
    link: str = Field(description="The bot's /start link carrying ref_<code>")
    app_link: str = Field(description="The Mini App link carrying startapp=ref_<code>")
    levels: list[LevelOut] = Field(description="Always the 8 levels, level 1 first")
    totals: dict[str, Units] = Field(description="`pending` and `available` over all levels")


class RefereeOut(BaseModel):
    """Public profile fields and the join date: no balance, no purchase."""

    id: UUID
    username: str | None
    first_name: str
    joined_at: datetime


@dataclass(frozen=True)
class DownlinePage:
    items: list[RefereeOut]
    next_cursor: str | None
