"""Idempotency keys are kept for a day, then purged.

Revision ID: 0022_idempotency_purge
Revises: 0021_stars_sync
Create Date: 2026-12-04

- `tokens.idempotency_keys`: the service role may now DELETE, which only
  `webapp_api.idempotency.purge_keys` does (keys older than `KEY_RETENTION`, 24 hours, as
  Stripe keeps them). Before, every key and its stored response stayed for ever.
- No index on `created_at`: the hourly purge reads the table once, and every idempotent POST
  would pay for the index's upkeep.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0022_idempotency_purge"
down_revision = "0021_stars_sync"
branch_labels = None
depends_on = None

_UP = """
GRANT DELETE ON tokens.idempotency_keys TO gv_service;
"""

_DOWN = """
REVOKE DELETE ON tokens.idempotency_keys FROM gv_service;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
