"""Promo codes and gifts: codes with a budget held in the ledger, gift links and red packets.

Revision ID: 0013_promo_gifts
Revises: 0010_realtime
Create Date: 2026-12-03

- `tokens.account_kinds` gains `promo`: the minting source of promo credits. A code's budget is
  a hold from `system:promo#<shard>` to `system:escrow#<shard>`; each redemption voids the hold
  and replaces it with one for what is left, in the statement that pays the user, so what the
  ledger holds plus what it paid is the budget, exactly.
- `gifts.promo_codes`: `used` and `paid` move only by one conditional UPDATE per redemption
  (`used < max_uses AND paid + amount <= budget`), checked again by CHECK constraints.
  `code_hash` (sha256 of the upper-cased code) is the lookup key, so the index is searched
  with a hash and the code itself is compared in constant time.
- `gifts.promo_redemptions`: one row per redemption; `(promo_id, user_id, n)` is unique with
  `n <= per_user`, inserted in the redemption's transaction.
- `gifts.gifts` and `gifts.gift_shares`: a link is one share, a red packet N shares fixed at
  creation; each share is a ledger hold from the creator to escrow, claimed at most once
  (`claimed_by` set once, one share per user per gift). Only the sha256 of a link's secret is
  stored.

Only the service role reads and writes these tables.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0013_promo_gifts"
down_revision = "0010_realtime"
branch_labels = None
depends_on = None

_UP = """
INSERT INTO tokens.account_kinds (kind, per_user, flags, description) VALUES
    ('promo', false, 0, 'Source of promo code credits; each code''s budget is held from it');

CREATE SCHEMA gifts;

CREATE TABLE gifts.promo_codes (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    code            text NOT NULL CHECK (code ~ '^[A-Z0-9_-]{3,32}$'),
    code_hash       bytea NOT NULL UNIQUE,
    asset           text NOT NULL REFERENCES tokens.assets (code),
    amount          numeric(39,0) NOT NULL CHECK (amount > 0),
    max_uses        integer NOT NULL CHECK (max_uses > 0),
    per_user        integer NOT NULL DEFAULT 1 CHECK (per_user > 0),
    budget          numeric(39,0) NOT NULL CHECK (budget >= amount),
    used            integer NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= max_uses),
    paid            numeric(39,0) NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= budget),
    new_users_only  boolean NOT NULL DEFAULT false,
    min_account_age integer NOT NULL DEFAULT 0 CHECK (min_account_age >= 0),
    shard           integer NOT NULL CHECK (shard BETWEEN 0 AND 255),
    active          boolean NOT NULL DEFAULT true,
    expires_at      timestamptz,
    created_by      uuid NOT NULL REFERENCES auth.users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gifts.promo_redemptions (
    promo_id    uuid NOT NULL REFERENCES gifts.promo_codes (id),
    user_id     uuid NOT NULL REFERENCES auth.users (id),
    n           integer NOT NULL CHECK (n > 0),
    use_number  integer NOT NULL,
    amount      numeric(39,0) NOT NULL,
    transfer_id uuid NOT NULL UNIQUE,
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promo_id, user_id, n),
    UNIQUE (promo_id, use_number)
);

CREATE TABLE gifts.gifts (
    id          uuid PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('direct', 'link', 'packet')),
    creator_id  uuid NOT NULL REFERENCES auth.users (id),
    recipient_id uuid REFERENCES auth.users (id),
    asset       text NOT NULL REFERENCES tokens.assets (code),
    amount      numeric(39,0) NOT NULL CHECK (amount > 0),
    shares      integer NOT NULL CHECK (shares BETWEEN 1 AND 1000),
    split       text NOT NULL CHECK (split IN ('equal', 'random')),
    message     text,
    secret_hash bytea UNIQUE,
    shard       integer NOT NULL CHECK (shard BETWEEN 0 AND 255),
    status      text NOT NULL CHECK (status IN ('open', 'claimed', 'cancelled', 'expired', 'sent')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,
    resolved_at timestamptz,
    CHECK ((kind = 'direct') = (secret_hash IS NULL)),
    CHECK (kind = 'packet' OR shares = 1)
);
CREATE INDEX gifts_creator ON gifts.gifts (creator_id, created_at DESC);
CREATE INDEX gifts_recipient ON gifts.gifts (recipient_id, created_at DESC)
    WHERE recipient_id IS NOT NULL;
CREATE INDEX gifts_open_expiry ON gifts.gifts (expires_at) WHERE status = 'open';

CREATE TABLE gifts.gift_shares (
    gift_id     uuid NOT NULL REFERENCES gifts.gifts (id),
    idx         integer NOT NULL CHECK (idx >= 0),
    amount      numeric(39,0) NOT NULL CHECK (amount > 0),
    claimed_by  uuid REFERENCES auth.users (id),
    claimed_at  timestamptz,
    PRIMARY KEY (gift_id, idx),
    UNIQUE (gift_id, claimed_by),
    CHECK ((claimed_by IS NULL) = (claimed_at IS NULL))
);
CREATE INDEX gift_shares_claimer ON gifts.gift_shares (claimed_by) WHERE claimed_by IS NOT NULL;

ALTER TABLE gifts.promo_codes ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.promo_codes FORCE ROW LEVEL SECURITY;
ALTER TABLE gifts.promo_redemptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.promo_redemptions FORCE ROW LEVEL SECURITY;
ALTER TABLE gifts.gifts ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.gifts FORCE ROW LEVEL SECURITY;
ALTER TABLE gifts.gift_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.gift_shares FORCE ROW LEVEL SECURITY;
CREATE POLICY promo_codes_service ON gifts.promo_codes FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY promo_redemptions_service ON gifts.promo_redemptions FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY gifts_service ON gifts.gifts FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY gift_shares_service ON gifts.gift_shares FOR ALL TO gv_service
    USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA gifts TO gv_service;
GRANT SELECT, INSERT, UPDATE ON gifts.promo_codes, gifts.gifts, gifts.gift_shares TO gv_service;
GRANT SELECT, INSERT ON gifts.promo_redemptions TO gv_service;
"""

_DOWN = """
DROP SCHEMA gifts CASCADE;
DELETE FROM tokens.account_kinds WHERE kind = 'promo'
    AND NOT EXISTS (SELECT FROM tokens.accounts WHERE kind = 'promo');
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
