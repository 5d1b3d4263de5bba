"""The ledger migrations downgrade cleanly and upgrade again."""

from __future__ import annotations

import asyncpg
import pytest

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


async def test_ledger_speed_migration_swaps_transfer_foreign_keys_for_a_removal_guard(
    owner_url: str,
) -> None:
    keys = (
        "SELECT count(*) FROM pg_constraint "
        "WHERE conrelid = 'tokens.transfers'::regclass AND contype = 'f'"
    )
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert await conn.fetchval(keys) == 0
        # The owner may not remove accounts either: transfers refer to them.
        for statement in ("DELETE FROM tokens.accounts", "TRUNCATE tokens.accounts CASCADE"):
            with pytest.raises(asyncpg.ObjectNotInPrerequisiteStateError, match="never removed"):
                await conn.execute(statement)
    finally:
        await conn.close()
    await downgrade(owner_url, "0002_ledger")
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert await conn.fetchval(keys) == 2
        await conn.execute("DELETE FROM tokens.accounts WHERE kind = 'ai_spend'")
    finally:
        await conn.close()
    await upgrade(owner_url)
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert await conn.fetchval(keys) == 0
    finally:
        await conn.close()


async def test_replay_migration_edits_the_fingerprint_both_ways(owner_url: str) -> None:
    definition = (
        "SELECT pg_get_functiondef('tokens.create_transfers(jsonb, boolean)'::regprocedure)"
    )
    partial = "SELECT indexdef FROM pg_indexes WHERE indexname = 'outbox_dedup_key_key'"
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert "(e - 'id' - 'group')" in await conn.fetchval(definition)
        assert "WHERE (dedup_key IS NOT NULL)" in await conn.fetchval(partial)
    finally:
        await conn.close()
    await downgrade(owner_url, "0003_ledger_speed")
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        assert "(e - 'id' - 'group')" not in await conn.fetchval(definition)
        assert "WHERE" not in await conn.fetchval(partial)
    finally:
        await conn.close()
    await upgrade(owner_url)
