"""Ledger: a replay matches wherever it sits in a batch; metadata stays small; cheaper keys.

Revision ID: 0004_ledger_replays
Revises: 0003_ledger_speed
Create Date: 2026-11-25

- **Fingerprint without `group`.** A transfer's fingerprint (what "the same id with the same
  fields" compares) was the md5 of its JSON minus `id`, and so included `group`: its
  position in an unlinked batch. `SendBatcher` numbers the sends of each batch from 0, so a
  replay that rode in another position than the first attempt (an API retry after a lost
  response, behind other users' sends) was refused as `exists_with_different_fields` instead
  of answering `exists`. `group` says how a batch is linked, not what the transfer is.
  Transfers stored before this migration without a `group` (every path but the batcher)
  keep matching; a batcher transfer stored before it matches only in its first position,
  as it did.
- **Metadata is a small object.** Any JSON value of any size was stored. A transfer's
  metadata must now be an object of at most 4 KB (`metadata_must_be_object`,
  `metadata_too_large`); it carries references and a memo, never documents. Like the other
  request checks, the refusal is not stored, so a corrected retry may use the same id.
- **Account keys in the C collation.** Addresses (`user:<uuid>`, `system:fees#12`) and asset
  codes are ASCII identifiers. Under the database's default collation (C.UTF-8 here, a
  libc locale) every comparison in their unique index goes through `strcoll`; a batch looks
  up each of its accounts there.
- **Outbox dedup keys indexed only when present.** Most messages (every P2P notice) have
  none, and each paid an entry in the unique index for nothing. `ON CONFLICT DO NOTHING`
  without a target honours a partial unique index, so enqueue keeps deduplicating.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0004_ledger_replays"
down_revision = "0003_ledger_speed"
branch_labels = None
depends_on = None

# (before, after) in the function's source. The function is edited in place, its definition
# read back from the catalog, rather than restated: the changes are a few lines, and a
# 400-line copy would hide them.
_EDITS = (
    ("md5((e - 'id')::text)::uuid", "md5((e - 'id' - 'group')::text)::uuid"),
    (
        """            results[i] := 'invalid_kind';
        ELSIF amounts[i] IS NOT NULL""",
        """            results[i] := 'invalid_kind';
        ELSIF jsonb_typeof(metas[i]) <> 'object' THEN
            results[i] := 'metadata_must_be_object';
        ELSIF pg_column_size(metas[i]) > 4096 THEN
            results[i] := 'metadata_too_large';
        ELSIF amounts[i] IS NOT NULL""",
    ),
)

_EDIT = """
DO $$
DECLARE
    definition text := pg_get_functiondef('tokens.create_transfers(jsonb, boolean)'::regprocedure);
    edited text := definition;
    before text;
    after text;
BEGIN
    FOR before, after IN SELECT * FROM unnest({befores}::text[], {afters}::text[]) LOOP
        IF position(before IN edited) = 0 THEN
            RAISE EXCEPTION 'tokens.create_transfers: % not found', left(before, 60);
        END IF;
        edited := replace(edited, before, after);
    END LOOP;
    EXECUTE edited;
END
$$;
"""


_KEYS = """
ALTER TABLE tokens.accounts
    ALTER COLUMN address TYPE text COLLATE "C",
    ALTER COLUMN asset TYPE text COLLATE "C";
ALTER TABLE ops.outbox DROP CONSTRAINT outbox_dedup_key_key;
CREATE UNIQUE INDEX outbox_dedup_key_key ON ops.outbox (dedup_key) WHERE dedup_key IS NOT NULL;
"""

_KEYS_DOWN = """
ALTER TABLE tokens.accounts
    ALTER COLUMN address TYPE text COLLATE "default",
    ALTER COLUMN asset TYPE text COLLATE "default";
DROP INDEX ops.outbox_dedup_key_key;
ALTER TABLE ops.outbox ADD CONSTRAINT outbox_dedup_key_key UNIQUE (dedup_key);
"""


def _edit(edits: tuple[tuple[str, str], ...]) -> str:
    def array(items: list[str]) -> str:
        return "ARRAY[" + ", ".join("'" + item.replace("'", "''") + "'" for item in items) + "]"

    return _EDIT.format(
        befores=array([before for before, _ in edits]), afters=array([after for _, after in edits])
    )


def upgrade() -> None:
    run_script(_edit(_EDITS))
    run_script(_KEYS)


def downgrade() -> None:
    run_script(_edit(tuple((after, before) for before, after in reversed(_EDITS))))
    run_script(_KEYS_DOWN)
