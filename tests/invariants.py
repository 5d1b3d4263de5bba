"""Invariants every test's database must satisfy when the test ends.

Each capability adds its checks here (the ledger: zero sum per asset, no overdrawn user
account, holds resolved at most once); they run after every test that used the `db` fixture.
"""

from __future__ import annotations

import asyncpg

from db.urls import asyncpg_dsn

CHECKS: list[tuple[str, str]] = [
    (
        "an outbox message is marked sent without a send time",
        "SELECT count(*) FROM ops.outbox WHERE status = 'sent' AND sent_at IS NULL",
    ),
    (
        "a user refers themselves",
        "SELECT count(*) FROM auth.users WHERE referred_by = id",
    ),
]


async def assert_invariants(owner_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        for description, query in CHECKS:
            violations = await conn.fetchval(query)
            assert violations == 0, f"invariant broken: {description} ({violations} rows)"
    finally:
        await conn.close()
