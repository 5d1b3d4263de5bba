"""Realtime: an event log written in the same transaction as the change, and its wake-ups.

Revision ID: 0010_realtime
Revises: 0007_outbox_fairness
Create Date: 2026-12-03

- `ops.events`: one row per event a Mini App client may receive. `user_id` is the one user who
  may see it (channel `user`), NULL for everyone (`announcements`). `id` is a bigint identity:
  one sequence for every stream, so it increases along each user's stream too, and one cursor
  (`after`) resumes a client across its private and shared channels alike. Rows are kept for
  `REALTIME_RETENTION` (services/realtime/tasks.py purges them).
- `ops.events_horizon`: one row, the highest id purged; a resume from below it cannot be
  served from the table and is answered `resync`.
- `tokens.transfer_events`: a statement-level AFTER INSERT trigger on `tokens.transfers` with
  a transition table: one INSERT ... SELECT per ledger statement writes the `transfer` events
  of the user accounts it touched. No NOTIFY from the ledger: a notifying transaction holds
  the server's notify-queue lock through its commit, which serialised the ledger's commits
  (half the single-transfer statements per second at 16 clients, bench/realtime/trigger.py);
  the listeners poll `ops.events` every 100 ms and wake at once on the `pg_notify` that
  `services.realtime.service.publish` sends for rarer events (announcements).

The app reads and purges events as the service; users never read the table directly (the
listener filters by `user_id` before a row reaches a socket).
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0010_realtime"
down_revision = "0009_identity_cache"
branch_labels = None
depends_on = None

_UP = """
CREATE TABLE ops.events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid REFERENCES auth.users (id),
    channel     text NOT NULL CHECK (channel IN ('user', 'announcements')),
    type        text NOT NULL CHECK (type ~ '^[a-z][a-z_]{0,31}$'),
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((channel = 'user') = (user_id IS NOT NULL))
);
-- The purge walks by age; a BRIN costs next to nothing on an append-only table.
CREATE INDEX events_created_brin ON ops.events USING brin (created_at);

CREATE TABLE ops.events_horizon (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    purged_through bigint NOT NULL DEFAULT 0
);
INSERT INTO ops.events_horizon DEFAULT VALUES;

ALTER TABLE ops.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.events FORCE ROW LEVEL SECURITY;
ALTER TABLE ops.events_horizon ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.events_horizon FORCE ROW LEVEL SECURITY;
CREATE POLICY events_service ON ops.events FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY events_horizon_service ON ops.events_horizon FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
-- FORCE applies RLS to the owner too, and the ledger's trigger writes events as the owner.
-- (RETURNING reads the rows back, so the policy covers reading too.)
CREATE POLICY events_owner ON ops.events TO gv_owner USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, DELETE ON ops.events TO gv_service;
GRANT SELECT, UPDATE ON ops.events_horizon TO gv_service;
"""

# A frozen copy of db/sql/tokens/transfer_events.sql.
TRANSFER_EVENTS = r"""
CREATE OR REPLACE FUNCTION tokens.transfer_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO ops.events (user_id, channel, type, data)
    SELECT a.user_id, 'user', 'transfer',
           jsonb_build_object('transfer_id', t.id, 'kind', t.kind, 'direction', s.direction,
                              'asset', t.asset, 'amount', t.amount::text, 'code', t.code)
      FROM new_transfers t
     CROSS JOIN LATERAL (VALUES ('out', t.debit_account_id), ('in', t.credit_account_id))
           AS s(direction, account_id)
      JOIN tokens.accounts a ON a.id = s.account_id
     WHERE t.result = 'ok' AND a.user_id IS NOT NULL;
    RETURN NULL;
END
$function$;
"""

_TRIGGER = """
CREATE TRIGGER transfers_events AFTER INSERT ON tokens.transfers
    REFERENCING NEW TABLE AS new_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION tokens.transfer_events();
"""

_DOWN = """
DROP TRIGGER transfers_events ON tokens.transfers;
DROP FUNCTION tokens.transfer_events();
DROP TABLE ops.events_horizon;
DROP TABLE ops.events;
"""


def upgrade() -> None:
    run_script(_UP)
    run_script(TRANSFER_EVENTS)
    run_script(_TRIGGER)


def downgrade() -> None:
    run_script(_DOWN)
