"""Outbox fairness: per-chat pacing, a shared send schedule, claim tokens.

Revision ID: 0007_outbox_fairness
Revises: 0006_amount_limits
Create Date: 2026-12-03

Every worker process coordinates through these rows, so the limits hold across instances:

- `ops.outbox_chats`: one row per chat that has been sent to. `next_send_at` is when the chat
  may be claimed again: a claim holds it for its lease (`holder` is the claim's token), the
  record after the send frees it one interval after Telegram answered. `summary_after` is when
  the chat's "you received" notices may be claimed again; those that arrive before are sent
  together as one summary.
- `ops.outbox_pace`: one row, `next_slot_at`, the next free slot of the bot's overall send
  rate. A claim locks it first (claims are serialised, each a few milliseconds), reserves one
  slot per message it takes, and a 429 pushes it forward so every worker pauses.
- `ops.outbox.claim_token`: the claim a message is leased to. A record changes a message only
  while the token is still its own, so a late worker never overwrites a re-claimed message.
- `outbox_chat_queue_idx` replaces `outbox_due_idx`: a claim walks the queued chats (a skip
  scan over chat_id) and takes each ready chat's oldest message, so one chat's backlog at the
  head of the queue no longer holds every other chat back.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0007_outbox_fairness"
down_revision = "0006_amount_limits"
branch_labels = None
depends_on = None

_UP = """
ALTER TABLE ops.outbox ADD COLUMN claim_token uuid;
DROP INDEX ops.outbox_due_idx;
CREATE INDEX outbox_chat_queue_idx ON ops.outbox (chat_id, created_at)
    WHERE status IN ('pending', 'sending');

CREATE TABLE ops.outbox_chats (
    chat_id       bigint PRIMARY KEY,
    next_send_at  timestamptz NOT NULL,
    holder        uuid,
    summary_after timestamptz
);
ALTER TABLE ops.outbox_chats ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.outbox_chats FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_chats_service ON ops.outbox_chats FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.outbox_chats TO gv_service;

CREATE TABLE ops.outbox_pace (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    next_slot_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ops.outbox_pace DEFAULT VALUES;
ALTER TABLE ops.outbox_pace ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.outbox_pace FORCE ROW LEVEL SECURITY;
CREATE POLICY outbox_pace_service ON ops.outbox_pace FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
GRANT SELECT, UPDATE ON ops.outbox_pace TO gv_service;
"""

_DOWN = """
DROP TABLE ops.outbox_pace;
DROP TABLE ops.outbox_chats;
DROP INDEX ops.outbox_chat_queue_idx;
CREATE INDEX outbox_due_idx ON ops.outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
ALTER TABLE ops.outbox DROP COLUMN claim_token;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
