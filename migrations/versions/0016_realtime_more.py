"""Realtime, continued: balance events, ids a listener can deliver in order, announcements.

Revision ID: 0016_realtime_more
Revises: 0015_generation
Create Date: 2026-12-03

- `tokens.transfer_events` also writes one `balance` event per user wallet a ledger statement
  touched, with the wallet's new balances, in the same transaction (every ledger change, not
  only P2P transfers: purchases, gifts, generation holds all go through the ledger).
- `ops.events.id` is drawn by `ops.next_event_id()`, which takes the transaction's xid
  first: the listener then knows, from a snapshot, when a missing id can no longer commit,
  and delivers every stream in id order with no late commit slipping behind a client's cursor.
- `ops.announcements`: an admin's broadcast, decided once (confirmed or cancelled), fanned out
  to the outbox in batches whose cursor moves in the batch's own transaction.
- `ops.realtime_connections`: sockets per user per API instance with an expiry the instance's
  heartbeat moves: the per-user connection cap across instances, and presence.
"""

from __future__ import annotations

from importlib import import_module

from migrations.sql import run_script

revision = "0016_realtime_more"
down_revision = "0015_generation"
branch_labels = None
depends_on = None

# A frozen copy of db/sql/ops/next_event_id.sql.
NEXT_EVENT_ID = r"""
CREATE OR REPLACE FUNCTION ops.next_event_id()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN nextval('ops.events_id_seq');
END
$function$;
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
    -- UNION ALL appends its parts in order: a statement's transfer events, then its balances.
    INSERT INTO ops.events (user_id, channel, type, data)
    SELECT a.user_id, 'user', 'transfer',
           jsonb_build_object('transfer_id', t.id, 'kind', t.kind, 'direction', s.direction,
                              'asset', t.asset, 'amount', t.amount::text, 'code', t.code)
      FROM new_transfers t
     CROSS JOIN LATERAL (VALUES ('out', t.debit_account_id), ('in', t.credit_account_id))
           AS s(direction, account_id)
      JOIN tokens.accounts a ON a.id = s.account_id
     WHERE t.result = 'ok' AND a.user_id IS NOT NULL
    UNION ALL
    SELECT a.user_id, 'user', 'balance',
           jsonb_build_object('asset', a.asset, 'available',
                              (a.credits_posted - a.debits_posted - a.debits_pending)::text,
                              'pending', a.debits_pending::text,
                              'posted', (a.credits_posted - a.debits_posted)::text)
      FROM (SELECT DISTINCT x.account_id
              FROM new_transfers t
             CROSS JOIN LATERAL (VALUES (t.debit_account_id), (t.credit_account_id))
                   AS x(account_id)
             WHERE t.result = 'ok') x
      JOIN tokens.accounts a ON a.id = x.account_id
     WHERE a.kind = 'wallet';
    RETURN NULL;
END
$function$;
"""

_UP = """
ALTER TABLE ops.events ALTER COLUMN id DROP IDENTITY;
CREATE SEQUENCE ops.events_id_seq AS bigint OWNED BY ops.events.id;
SELECT setval('ops.events_id_seq', coalesce((SELECT max(id) FROM ops.events), 0) + 1, false);
"""

_DEFAULT = """
REVOKE ALL ON FUNCTION ops.next_event_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.next_event_id() TO gv_service;
ALTER TABLE ops.events ALTER COLUMN id SET DEFAULT ops.next_event_id();

CREATE TABLE ops.announcements (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The admin's message it was made from: a re-delivered update makes no second draft.
    source        text NOT NULL UNIQUE,
    created_by    uuid NOT NULL REFERENCES auth.users (id),
    chat_id       bigint NOT NULL,
    html          text NOT NULL CHECK (length(html) BETWEEN 1 AND 4096),
    button_text   text CHECK (length(button_text) BETWEEN 1 AND 64),
    button_url    text CHECK (length(button_url) BETWEEN 1 AND 512),
    language      text CHECK (language ~ '^[a-z]{2}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    confirmed_at  timestamptz,
    cancelled_at  timestamptz,
    -- The fan-out: users are enqueued in id order; `cursor` is the last one enqueued.
    cursor        uuid,
    enqueued      integer NOT NULL DEFAULT 0,
    fanned_out_at timestamptz,
    CHECK ((button_text IS NULL) = (button_url IS NULL)),
    CHECK (confirmed_at IS NULL OR cancelled_at IS NULL)
);
CREATE INDEX announcements_fanning_idx ON ops.announcements (confirmed_at)
    WHERE confirmed_at IS NOT NULL AND fanned_out_at IS NULL;
ALTER TABLE ops.announcements ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.announcements FORCE ROW LEVEL SECURITY;
CREATE POLICY announcements_service ON ops.announcements FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE ON ops.announcements TO gv_service;

-- Sockets per user per API instance, kept alive by the instance's heartbeat: the per-user
-- cap across instances, and presence. UNLOGGED: after a server crash every socket is gone
-- anyway, and the rows change at every connect and heartbeat.
CREATE UNLOGGED TABLE ops.realtime_connections (
    user_id     uuid NOT NULL,
    instance_id uuid NOT NULL,
    sockets     integer NOT NULL CHECK (sockets > 0),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (user_id, instance_id)
);
CREATE INDEX realtime_connections_instance_idx ON ops.realtime_connections (instance_id);
ALTER TABLE ops.realtime_connections ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.realtime_connections FORCE ROW LEVEL SECURITY;
CREATE POLICY realtime_connections_service ON ops.realtime_connections FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.realtime_connections TO gv_service;
"""

_DOWN = """
DROP TABLE ops.realtime_connections;
DROP TABLE ops.announcements;
ALTER TABLE ops.events ALTER COLUMN id DROP DEFAULT;
DROP FUNCTION ops.next_event_id();
DROP SEQUENCE ops.events_id_seq;
ALTER TABLE ops.events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
"""


def upgrade() -> None:
    run_script(_UP)
    run_script(NEXT_EVENT_ID)
    run_script(_DEFAULT)
    run_script(TRANSFER_EVENTS)


def downgrade() -> None:
    run_script(_DOWN)
    # 0010's function back: transfer events only.
    run_script(import_module("migrations.versions.0010_realtime").TRANSFER_EVENTS)
