"""Purchases with Telegram Stars, the referral tree, referral rewards and fraud flags.

Revision ID: 0011_purchases
Revises: 0010_realtime
Create Date: 2026-12-03

- `tokens.purchases`: one row per Stars payment, unique on Telegram's charge id, so a
  redelivered `successful_payment` finds the first one's row instead of crediting again.
  `tokens.debts`: what a forced refund could not take back; the next purchase settles it.
- `referrals.links`: the closure table of the referral tree, (descendant, depth 1..8) ->
  ancestor, written once when a user is created with a referrer. The upline of a buyer is one
  primary-key range read; a referrer's downline at level N is one range of
  `links_ancestor_idx`.
- `referrals.rewards`: one row per (source event, level), its id the ledger hold's id.
- `referrals.totals`: per referrer and level, the referees and the sums of rewards held and
  paid, so the Invite view reads 8 rows, not the tree or every reward.
- `referrals.flags`: what a fraud rule found, with its evidence; an open flag keeps the user's
  rewards held until an admin decides. `referrals.notices`: when each referrer was last told.

Users read none of these tables: `referrals.my_downline` and `referrals.my_levels` are views
(run as their owner) that show the signed-in user's own tree and nothing else, and
`tokens.purchases` is readable by its buyer only.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0011_purchases"
down_revision = "0010_realtime"
branch_labels = None
depends_on = None

_UP = """
CREATE TABLE tokens.purchases (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id           uuid NOT NULL REFERENCES auth.users (id),
    charge_id         text NOT NULL UNIQUE CHECK (length(charge_id) BETWEEN 1 AND 255),
    pack_id           text NOT NULL,
    stars             integer NOT NULL CHECK (stars > 0),
    vibe              numeric(39, 0) NOT NULL CHECK (vibe > 0),
    status            text NOT NULL DEFAULT 'paid' CHECK (status IN ('paid', 'refunded')),
    refunded_at       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);
CREATE INDEX purchases_user_idx ON tokens.purchases (user_id, created_at DESC, id DESC);

CREATE TABLE tokens.debts (
    purchase_id  uuid PRIMARY KEY REFERENCES tokens.purchases (id),
    user_id      uuid NOT NULL REFERENCES auth.users (id),
    amount       numeric(39, 0) NOT NULL CHECK (amount > 0),
    settled      numeric(39, 0) NOT NULL DEFAULT 0 CHECK (settled >= 0 AND settled <= amount),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX debts_open_idx ON tokens.debts (user_id, created_at) WHERE settled < amount;

ALTER TABLE tokens.purchases ENABLE ROW LEVEL SECURITY;
ALTER TABLE tokens.purchases FORCE ROW LEVEL SECURITY;
ALTER TABLE tokens.debts ENABLE ROW LEVEL SECURITY;
ALTER TABLE tokens.debts FORCE ROW LEVEL SECURITY;
CREATE POLICY purchases_own ON tokens.purchases FOR SELECT TO gv_user
    USING (user_id = (SELECT auth.current_user_id()));
CREATE POLICY purchases_service ON tokens.purchases FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY debts_service ON tokens.debts FOR ALL TO gv_service USING (true) WITH CHECK (true);
GRANT SELECT ON tokens.purchases TO gv_user;
GRANT SELECT, INSERT, UPDATE ON tokens.purchases, tokens.debts TO gv_service;

CREATE SCHEMA referrals;
GRANT USAGE ON SCHEMA referrals TO gv_user, gv_service;

CREATE TABLE referrals.links (
    descendant_id  uuid NOT NULL REFERENCES auth.users (id),
    depth          smallint NOT NULL CHECK (depth BETWEEN 1 AND 8),
    ancestor_id    uuid NOT NULL REFERENCES auth.users (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (descendant_id, depth),
    CHECK (ancestor_id <> descendant_id)
);
CREATE INDEX links_ancestor_idx ON referrals.links (ancestor_id, depth, created_at, descendant_id);

CREATE TABLE referrals.rewards (
    id            uuid PRIMARY KEY,
    source        text NOT NULL,
    level         smallint NOT NULL CHECK (level BETWEEN 1 AND 8),
    referrer_id   uuid NOT NULL REFERENCES auth.users (id),
    referee_id    uuid NOT NULL REFERENCES auth.users (id),
    amount        numeric(39, 0) NOT NULL CHECK (amount > 0),
    status        text NOT NULL DEFAULT 'held' CHECK (status IN ('held', 'posted', 'voided')),
    available_at  timestamptz NOT NULL,
    notified_at   timestamptz,
    resolved_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, level),
    CHECK ((status = 'held') = (resolved_at IS NULL))
);
CREATE INDEX rewards_due_idx ON referrals.rewards (available_at) WHERE status = 'held';
CREATE INDEX rewards_referee_idx ON referrals.rewards (referee_id) WHERE status = 'held';
CREATE INDEX rewards_unnotified_idx ON referrals.rewards (referrer_id) WHERE notified_at IS NULL;
CREATE INDEX rewards_referrer_idx ON referrals.rewards (referrer_id) WHERE status = 'held';
-- The daily-cap scan reads today's rewards.
CREATE INDEX rewards_created_idx ON referrals.rewards (created_at);

CREATE TABLE referrals.flags (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES auth.users (id),
    rule        text NOT NULL CHECK (rule ~ '^[a-z][a-z_]{1,31}$'),
    score       integer NOT NULL CHECK (score BETWEEN 0 AND 100),
    evidence    jsonb NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'approved', 'rejected')),
    decided_by  uuid REFERENCES auth.users (id),
    decided_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'open') = (decided_at IS NULL AND decided_by IS NULL))
);
-- One open flag per user and rule: a rule firing again updates its evidence.
CREATE UNIQUE INDEX flags_open_idx ON referrals.flags (user_id, rule) WHERE status = 'open';

-- Per referrer and level, how many referees and the sums of their rewards on hold and paid:
-- what the Invite view shows, read as at most 8 rows however large the tree. Changed in the
-- transaction that binds a user or changes a reward's status; rows are always locked in
-- (level, referrer) order.
CREATE TABLE referrals.totals (
    referrer_id  uuid NOT NULL REFERENCES auth.users (id),
    level        smallint NOT NULL CHECK (level BETWEEN 1 AND 8),
    referees     bigint NOT NULL DEFAULT 0 CHECK (referees >= 0),
    pending      numeric(39, 0) NOT NULL DEFAULT 0 CHECK (pending >= 0),
    available    numeric(39, 0) NOT NULL DEFAULT 0 CHECK (available >= 0),
    PRIMARY KEY (referrer_id, level)
);

CREATE TABLE referrals.notices (
    referrer_id   uuid PRIMARY KEY REFERENCES auth.users (id),
    last_sent_at  timestamptz NOT NULL
);

ALTER TABLE referrals.links ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.links FORCE ROW LEVEL SECURITY;
ALTER TABLE referrals.rewards ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.rewards FORCE ROW LEVEL SECURITY;
ALTER TABLE referrals.flags ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.flags FORCE ROW LEVEL SECURITY;
ALTER TABLE referrals.totals ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.totals FORCE ROW LEVEL SECURITY;
ALTER TABLE referrals.notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.notices FORCE ROW LEVEL SECURITY;
CREATE POLICY links_service ON referrals.links FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY rewards_service ON referrals.rewards FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY flags_service ON referrals.flags FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY totals_service ON referrals.totals FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY totals_owner ON referrals.totals FOR SELECT TO gv_owner USING (true);
CREATE POLICY notices_service ON referrals.notices FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
-- The views below run as their owner, held to these by FORCE.
CREATE POLICY links_owner ON referrals.links FOR SELECT TO gv_owner USING (true);
CREATE POLICY rewards_owner ON referrals.rewards FOR SELECT TO gv_owner USING (true);
GRANT SELECT, INSERT ON referrals.links TO gv_service;
GRANT SELECT, INSERT, UPDATE ON referrals.rewards, referrals.flags TO gv_service;
GRANT SELECT, INSERT, UPDATE ON referrals.notices, referrals.totals TO gv_service;

-- The signed-in user's referees: public profile fields and the join date, nothing else.
CREATE VIEW referrals.my_downline WITH (security_barrier) AS
SELECT l.depth AS level, l.created_at AS joined_at, u.id, u.username, u.first_name
  FROM referrals.links l JOIN auth.users u ON u.id = l.descendant_id
 WHERE l.ancestor_id = (SELECT auth.current_user_id()) AND u.deleted_at IS NULL;

-- The signed-in user's referees and reward sums per level (levels without any are absent).
CREATE VIEW referrals.my_levels WITH (security_barrier) AS
SELECT t.level, t.referees, t.pending, t.available FROM referrals.totals t
 WHERE t.referrer_id = (SELECT auth.current_user_id());

GRANT SELECT ON referrals.my_downline, referrals.my_levels TO gv_user;
"""

_DOWN = """
DROP SCHEMA referrals CASCADE;
DROP TABLE tokens.debts;
DROP TABLE tokens.purchases;
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
