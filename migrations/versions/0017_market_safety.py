"""Market and gift safety: banned makers' offers, gifts under the P2P daily limit.

Revision ID: 0017_market_safety
Revises: 0016_realtime_more
Create Date: 2026-12-04

- `auth.users_banned_idx`: the few banned users, so the job that closes banned makers' open
  offers (`services/market/tasks.py`) reads them, not every open offer.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0017_market_safety"
down_revision = "0016_realtime_more"
branch_labels = None
depends_on = None

_UP = """
CREATE INDEX users_banned_idx ON auth.users (id) WHERE banned_at IS NOT NULL;
"""

_DOWN = """
DROP INDEX auth.users_banned_idx;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
