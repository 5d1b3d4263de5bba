"""How far the Stars reconciliation has read Telegram's record of the bot's Star transactions.

Revision ID: 0021_stars_sync
Revises: 0020_purchase_rows
Create Date: 2026-12-04

- `tokens.stars_sync`: one row. `seen` counts the transactions `getStarTransactions` has
  listed (oldest first) that were settled here: each payment credited, each refund recorded.
  `lease_until` lets one instance read at a time (`services/purchases/tasks.py`): taken with
  `UPDATE ... WHERE lease_until IS NULL OR lease_until < now()`, so an instance that dies
  holding it is replaced once the lease runs out; `holder` names the taker, so one whose
  lease ran out while it worked cannot move `seen` under its successor.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0021_stars_sync"
down_revision = "0020_purchase_rows"
branch_labels = None
depends_on = None

_UP = """
CREATE TABLE tokens.stars_sync (
    id           boolean PRIMARY KEY DEFAULT true CHECK (id),
    seen         integer NOT NULL DEFAULT 0 CHECK (seen >= 0),
    lease_until  timestamptz,
    holder       uuid,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tokens.stars_sync DEFAULT VALUES;
ALTER TABLE tokens.stars_sync ENABLE ROW LEVEL SECURITY;
ALTER TABLE tokens.stars_sync FORCE ROW LEVEL SECURITY;
CREATE POLICY stars_sync_service ON tokens.stars_sync FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON tokens.stars_sync TO gv_service;
"""

_DOWN = """
DROP TABLE tokens.stars_sync;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
