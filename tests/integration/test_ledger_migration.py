"""The ledger migration downgrades cleanly and upgrades again."""

from __future__ import annotations

import asyncpg

from db.migrate import downgrade, upgrade
from db.urls import asyncpg_dsn


async def test_downgrade_drops_the_tokens_schema_and_upgrade_restores_it(owner_url: str) -> None:
    await downgrade(owner_url, "0001_foundation")
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = 'tokens'") == 0
        )
    finally:
        await conn.close()
    await upgrade(owner_url)
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM tokens.assets") == 4
        assert (
            await conn.fetchval("SELECT count(*) FROM tokens.accounts WHERE user_id IS NULL") == 28
        )
    finally:
        await conn.close()
