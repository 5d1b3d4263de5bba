"""AI generation: jobs billed through ledger holds, their provider attempts, webhook receipts.

Revision ID: 0015_generation
Revises: 0014_market
Create Date: 2026-12-03

- `ai.jobs`: one row per order, created in the transaction that places the ledger hold
  (`hold_id`), unique per (user, request key) so a retried order is the same job. Workers move
  it through its states one step at a time: a step claims the row with `FOR UPDATE SKIP
  LOCKED` and a short lease (`lease_until`), so a worker killed mid-step loses only its lease.
  The provider's job id is recorded (`provider`, `provider_job_id`) right after the submit and
  before anything else, so a restarted worker asks the provider about it instead of submitting
  again. `delivered_at` marks the chat delivery done.
- `ai.attempts`: every provider call that ended a submit or a job (latency, cost, outcome).
- `ai.daily_spend`: the provider budget of a UTC day, reserved by one conditional UPDATE.
- `ai.webhook_receipts`: (provider, delivery id) seen, so a redelivered webhook is ignored.

Users read their own jobs through RLS; everything else is the service's.

The lock fix this work needed in `tokens.create_transfers` (two holds on one account resolved
at once) came with 0014_market, which this follows.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0015_generation"
down_revision = "0014_market"
branch_labels = None
depends_on = None

_UP = """
CREATE SCHEMA ai;
GRANT USAGE ON SCHEMA ai TO gv_service, gv_user;

CREATE TABLE ai.jobs (
    id               uuid PRIMARY KEY,
    user_id          uuid NOT NULL REFERENCES auth.users (id),
    request_key      text NOT NULL,
    request_hash     text NOT NULL,
    model            text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('image', 'music', 'video')),
    prompt           text NOT NULL,
    params           jsonb NOT NULL DEFAULT '{}'::jsonb,
    asset            text NOT NULL,
    price            numeric(39, 0) NOT NULL CHECK (price >= 0),
    cost_estimate    bigint NOT NULL CHECK (cost_estimate >= 0),
    cost_actual      bigint NOT NULL DEFAULT 0,
    hold_id          uuid NOT NULL UNIQUE,
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress         smallint NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    provider         text,
    provider_job_id  text,
    provider_state   jsonb NOT NULL DEFAULT '{}'::jsonb,
    excluded         text[] NOT NULL DEFAULT '{}',
    tries            integer NOT NULL DEFAULT 0,
    next_step_at     timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    outputs          jsonb NOT NULL DEFAULT '[]'::jsonb,
    error_code       text,
    error_message    text,
    chat_id          bigint,
    progress_message_id bigint,
    progress_shown_at timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    UNIQUE (user_id, request_key)
);
-- What the workers look for: unfinished work, and finished work not yet delivered.
CREATE INDEX jobs_due ON ai.jobs (next_step_at)
    WHERE status IN ('queued', 'running') OR (delivered_at IS NULL AND chat_id IS NOT NULL);
CREATE INDEX jobs_user ON ai.jobs (user_id, created_at DESC, id DESC);

CREATE TABLE ai.attempts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job_id           uuid NOT NULL REFERENCES ai.jobs (id),
    provider         text NOT NULL,
    model            text NOT NULL,
    provider_job_id  text,
    outcome          text NOT NULL
                     CHECK (outcome IN ('succeeded', 'failed', 'retry', 'fallback', 'cancelled')),
    error_class      text,
    error_code       text,
    latency_ms       integer NOT NULL,
    cost             bigint NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attempts_day ON ai.attempts (created_at);
CREATE INDEX attempts_job ON ai.attempts (job_id);

CREATE TABLE ai.daily_spend (
    day       date PRIMARY KEY,
    reserved  bigint NOT NULL DEFAULT 0
);

CREATE TABLE ai.webhook_receipts (
    provider    text NOT NULL,
    delivery_id text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, delivery_id)
);

ALTER TABLE ai.jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai.jobs FORCE ROW LEVEL SECURITY;
ALTER TABLE ai.attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai.attempts FORCE ROW LEVEL SECURITY;
ALTER TABLE ai.daily_spend ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai.daily_spend FORCE ROW LEVEL SECURITY;
ALTER TABLE ai.webhook_receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE ai.webhook_receipts FORCE ROW LEVEL SECURITY;
CREATE POLICY jobs_own ON ai.jobs FOR SELECT TO gv_user
    USING (user_id = (SELECT auth.current_user_id()));
CREATE POLICY jobs_service ON ai.jobs FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY attempts_service ON ai.attempts FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY daily_spend_service ON ai.daily_spend FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY webhook_receipts_service ON ai.webhook_receipts FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
GRANT SELECT ON ai.jobs TO gv_user;
GRANT SELECT, INSERT, UPDATE ON ai.jobs TO gv_service;
GRANT SELECT, INSERT ON ai.attempts TO gv_service;
GRANT SELECT, INSERT, UPDATE ON ai.daily_spend TO gv_service;
GRANT SELECT, INSERT, DELETE ON ai.webhook_receipts TO gv_service;
"""

_DOWN = """
DROP TABLE ai.webhook_receipts;
DROP TABLE ai.daily_spend;
DROP TABLE ai.attempts;
DROP TABLE ai.jobs;
DROP SCHEMA ai;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
