"""Use cases: one writer of outbox rows.

Revision ID: 0008_use_cases
Revises: 0007_outbox_fairness
Create Date: 2026-12-03

`ops.enqueue(messages jsonb)` is the only code that inserts into `ops.outbox`: the P2P ledger
statement, the `SendBatcher`'s batch statement and `notifications.enqueue` all call it. It runs
with the caller's rights (only the service role may write the outbox, so only it may call it).
The function's current source is `db/sql/ops/enqueue.sql`; this is a frozen copy.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0008_use_cases"
down_revision = "0007_outbox_fairness"
branch_labels = None
depends_on = None

_ENQUEUE = """
CREATE OR REPLACE FUNCTION ops.enqueue(messages jsonb)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    added integer;
BEGIN
    INSERT INTO ops.outbox (chat_id, user_id, template, params, reply_markup, dedup_key)
    SELECT m.chat_id, m.user_id, m.template, coalesce(m.params, '{}'::jsonb), m.reply_markup,
           m.dedup_key
      FROM jsonb_to_recordset(coalesce(messages, '[]'::jsonb))
           AS m(chat_id bigint, user_id uuid, template text, params jsonb, reply_markup jsonb,
                dedup_key text)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$function$;
"""

_GRANTS = """
REVOKE ALL ON FUNCTION ops.enqueue(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.enqueue(jsonb) TO gv_service;
"""


def upgrade() -> None:
    run_script(_ENQUEUE)
    run_script(_GRANTS)


def downgrade() -> None:
    run_script("DROP FUNCTION ops.enqueue(jsonb)")
