"""AI generation, continued: the submit recorded before it is made, purged webhook receipts,
and the part of a job's price that promo credits paid.

Revision ID: 0018_generation_more
Revises: 0017_market_safety
Create Date: 2026-12-03

- `ai.jobs.submit_provider`, `submit_ref`, `submit_at`: written and committed before the
  provider is called (the reference derives from the job id and its try), cleared when the
  provider's job id is recorded or the submit failed with an answer. Found set on a job
  without a provider job id, they say a worker died between the call and the record: the
  worker then asks the provider by that reference where it can, and otherwise never submits
  to that provider again for the job (services/generation/worker.py, "the crash window").
- `ai.attempts.outcome` gains `unknown`: a submit whose fate cannot be learnt.
- `ai.jobs.promo_covered`: VIBE units of the price that promo credits paid, counted when the
  job's hold is posted, so referral rewards on AI spend (`REFERRAL_ON_AI_SPEND`) leave them out.
- `ai.webhook_receipts (received_at)`: what the retention job deletes by.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0018_generation_more"
down_revision = "0017_market_safety"
branch_labels = None
depends_on = None

_UP = """
ALTER TABLE ai.jobs
    ADD COLUMN submit_provider text,
    ADD COLUMN submit_ref text,
    ADD COLUMN submit_at timestamptz,
    ADD COLUMN promo_covered numeric(39, 0) NOT NULL DEFAULT 0 CHECK (promo_covered >= 0);
-- A webhook for a submission whose id was never recorded finds its job by the reference.
CREATE INDEX jobs_submit_ref ON ai.jobs (submit_provider, submit_ref)
    WHERE submit_ref IS NOT NULL;
ALTER TABLE ai.attempts DROP CONSTRAINT attempts_outcome_check;
ALTER TABLE ai.attempts ADD CONSTRAINT attempts_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'retry', 'fallback', 'cancelled', 'unknown'));
CREATE INDEX webhook_receipts_received ON ai.webhook_receipts (received_at);
"""

_DOWN = """
DROP INDEX ai.webhook_receipts_received;
DELETE FROM ai.attempts WHERE outcome = 'unknown';
ALTER TABLE ai.attempts DROP CONSTRAINT attempts_outcome_check;
ALTER TABLE ai.attempts ADD CONSTRAINT attempts_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'retry', 'fallback', 'cancelled'));
DROP INDEX ai.jobs_submit_ref;
ALTER TABLE ai.jobs
    DROP COLUMN promo_covered,
    DROP COLUMN submit_at,
    DROP COLUMN submit_ref,
    DROP COLUMN submit_provider;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
