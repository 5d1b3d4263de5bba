"""Ledger speed: no foreign keys from tokens.transfers to tokens.accounts.

Revision ID: 0003_ledger_speed
Revises: 0002_ledger
Create Date: 2026-11-25

Each transfer row carried two foreign keys (debit and credit account). PostgreSQL checks a
foreign key with one `SELECT ... FOR KEY SHARE` per row and key, so a P2P transfer (two rows)
paid four lookups at insert time: about 5 µs per row, measured on PG 15 (20,000 rows: 200 ms
with the keys, 100 ms without; bench/ledger/RESULTS.md).

Dropping them weakens nothing, because the keys could never fire:

- `tokens.create_transfers` is the only writer of `tokens.transfers` (SECURITY DEFINER; the
  app roles have SELECT only, and `test_nobody_writes_ledger_tables_directly` holds them to
  it). It takes the account ids of a transfer from the account rows it has just locked
  `FOR UPDATE` in the same transaction (or, for post/void/expire, from the hold's row, whose
  accounts it locks the same way), so the rows exist and cannot go away before the commit.
- Accounts are never deleted: nobody but the owner may, and this migration adds a trigger
  that refuses DELETE and TRUNCATE on `tokens.accounts` for the owner too (the foreign keys
  used to be what stopped that). Statement-level, so it costs the hot path nothing.
- The invariant check that runs after every test (tests/invariants.py) now also asserts that
  every transfer's accounts exist, next to "account totals equal the sums of their transfers".

Kept as they were: the two history indexes (debit, created_at) and (credit, created_at). One
index cannot serve both directions of the history query (a btree row has one key; a GIN on
ARRAY[debit, credit] cannot return a page in created_at order without reading the account's
whole history), and dropping one measured about 0.5 µs per row: not worth a slower history.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0003_ledger_speed"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tokens.transfers
    DROP CONSTRAINT transfers_debit_account_id_fkey,
    DROP CONSTRAINT transfers_credit_account_id_fkey;

CREATE FUNCTION tokens.refuse_account_removal() RETURNS trigger
    LANGUAGE plpgsql SET search_path = ''
    AS $$
BEGIN
    RAISE EXCEPTION 'ledger accounts are never removed: transfers refer to them'
        USING ERRCODE = '55000';
END
$$;
CREATE TRIGGER accounts_never_removed
    BEFORE DELETE OR TRUNCATE ON tokens.accounts
    FOR EACH STATEMENT EXECUTE FUNCTION tokens.refuse_account_removal();
"""

DOWNGRADE = """
DROP TRIGGER accounts_never_removed ON tokens.accounts;
DROP FUNCTION tokens.refuse_account_removal();
ALTER TABLE tokens.transfers
    ADD CONSTRAINT transfers_debit_account_id_fkey
        FOREIGN KEY (debit_account_id) REFERENCES tokens.accounts (id),
    ADD CONSTRAINT transfers_credit_account_id_fkey
        FOREIGN KEY (credit_account_id) REFERENCES tokens.accounts (id);
"""


def upgrade() -> None:
    run_script(UPGRADE)


def downgrade() -> None:
    run_script(DOWNGRADE)
