"""Promo codes and gifts: codes with a budget held in the ledger, gift links and red packets.

Revision ID: 0013_promo_gifts
Revises: 0011_purchases
Create Date: 2026-12-03

- `tokens.account_kinds` gains `promo`: the minting source of promo credits.
- `gifts.promo_codes`: a code's terms. `code_hash` (sha256 of the upper-cased code) is the
  lookup key, so the index is searched with a hash and the code itself is compared in
  constant time.
- `gifts.promo_slots`: a code's uses and budget split over up to 16 slots, so redemptions of
  one hot code do not all queue on one row. A slot's `used` and `paid` move only by one
  conditional UPDATE per redemption (`used < max_uses AND paid + amount <= budget`), checked
  again by CHECK constraints. Each slot's budget is a hold from `system:promo#<shard>` to
  `system:escrow#<shard>`; each redemption voids it and holds what is left, in the batch that
  pays the user, so what the ledger holds plus what it paid is the budget, exactly.
- `gifts.promo_redemptions`: one row per redemption; `(promo_id, user_id, n)` is unique with
  `n <= per_user`, inserted in the redemption's statement before a slot is taken.
- `gifts.redeem_promo(code_hash, user_id)`: a whole redemption in one statement (source:
  db/sql/gifts/redeem_promo.sql).
- `gifts.gifts` and `gifts.gift_shares`: a link is one share, a red packet N shares fixed at
  creation; each share is a ledger hold from the creator to escrow, claimed at most once
  (`claimed_by` set once, one share per user per gift). Only the sha256 of a link's secret is
  stored.

Only the service role reads and writes these tables.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0013_promo_gifts"
down_revision = "0011_purchases"
branch_labels = None
depends_on = None

_UP = """
INSERT INTO tokens.account_kinds (kind, per_user, flags, description) VALUES
    ('promo', false, 0, 'Source of promo code credits; each code''s budget is held from it')
-- A downgrade keeps the kind while accounts of it exist.
ON CONFLICT (kind) DO NOTHING;

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
    new_users_only  boolean NOT NULL DEFAULT false,
    min_account_age integer NOT NULL DEFAULT 0 CHECK (min_account_age >= 0),
    shard           integer NOT NULL CHECK (shard BETWEEN 0 AND 255),
    active          boolean NOT NULL DEFAULT true,
    expires_at      timestamptz,
    created_by      uuid NOT NULL REFERENCES auth.users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE gifts.promo_slots (
    promo_id    uuid NOT NULL REFERENCES gifts.promo_codes (id),
    slot        integer NOT NULL CHECK (slot BETWEEN 0 AND 15),
    max_uses    integer NOT NULL CHECK (max_uses > 0),
    budget      numeric(39,0) NOT NULL CHECK (budget > 0),
    used        integer NOT NULL DEFAULT 0 CHECK (used >= 0 AND used <= max_uses),
    paid        numeric(39,0) NOT NULL DEFAULT 0 CHECK (paid >= 0 AND paid <= budget),
    active      boolean NOT NULL DEFAULT true,
    PRIMARY KEY (promo_id, slot)
);

CREATE TABLE gifts.promo_redemptions (
    promo_id    uuid NOT NULL REFERENCES gifts.promo_codes (id),
    user_id     uuid NOT NULL REFERENCES auth.users (id),
    n           integer NOT NULL CHECK (n > 0),
    -- Set in the same statement, once a slot is taken.
    slot        integer,
    use_number  integer,
    amount      numeric(39,0) NOT NULL,
    transfer_id uuid NOT NULL UNIQUE,
    redeemed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (promo_id, user_id, n),
    UNIQUE (promo_id, slot, use_number)
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
ALTER TABLE gifts.promo_slots ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.promo_slots FORCE ROW LEVEL SECURITY;
ALTER TABLE gifts.promo_redemptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.promo_redemptions FORCE ROW LEVEL SECURITY;
ALTER TABLE gifts.gifts ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.gifts FORCE ROW LEVEL SECURITY;
ALTER TABLE gifts.gift_shares ENABLE ROW LEVEL SECURITY;
ALTER TABLE gifts.gift_shares FORCE ROW LEVEL SECURITY;
CREATE POLICY promo_codes_service ON gifts.promo_codes FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY promo_slots_service ON gifts.promo_slots FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY promo_redemptions_service ON gifts.promo_redemptions FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY gifts_service ON gifts.gifts FOR ALL TO gv_service USING (true) WITH CHECK (true);
CREATE POLICY gift_shares_service ON gifts.gift_shares FOR ALL TO gv_service
    USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA gifts TO gv_service;
GRANT SELECT, INSERT, UPDATE ON gifts.promo_codes, gifts.promo_slots, gifts.gifts,
    gifts.gift_shares TO gv_service;
GRANT SELECT, INSERT, UPDATE ON gifts.promo_redemptions TO gv_service;
"""

# A frozen copy of db/sql/gifts/redeem_promo.sql.
REDEEM_PROMO = r"""
CREATE OR REPLACE FUNCTION gifts.redeem_promo(p_hash bytea, p_user uuid)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    p record;
    u record;
    s record;
    ord integer;
    shard integer;
    credit_id uuid;
    batch jsonb;
    results text[];
    failure text;
    slot_key text;
    started timestamptz := clock_timestamp();
BEGIN
    SELECT c.id, c.code, c.asset, a.decimals, c.amount, c.per_user, c.new_users_only,
           c.min_account_age, c.created_at, c.shard,
           c.active AND (c.expires_at IS NULL OR c.expires_at > now()) AS open
      INTO p
      FROM gifts.promo_codes c JOIN tokens.assets a ON a.code = c.asset
     WHERE c.code_hash = p_hash;
    IF NOT FOUND OR NOT p.open THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;
    SELECT x.banned_at, x.created_at INTO u FROM auth.users x WHERE x.id = p_user;
    IF NOT FOUND OR u.banned_at IS NOT NULL
       OR (p.new_users_only AND u.created_at <= p.created_at)
       OR (p.min_account_age > 0
           AND now() - u.created_at < make_interval(secs => p.min_account_age)) THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;
    SELECT count(*)::integer + 1 INTO ord
      FROM gifts.promo_redemptions r WHERE r.promo_id = p.id AND r.user_id = p_user;
    IF ord > p.per_user THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;

    -- The user's ordinal first: a concurrent redemption by the same user queues here, before
    -- either holds a slot, and the later one finds the ordinal taken.
    credit_id := md5('promo:' || p.id || ':' || p_user || ':' || ord)::uuid;
    INSERT INTO gifts.promo_redemptions (promo_id, user_id, n, amount, transfer_id)
    VALUES (p.id, p_user, ord, p.amount, credit_id)
    ON CONFLICT (promo_id, user_id, n) DO NOTHING;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;

    -- The decision, on one free slot (SKIP LOCKED: a transaction never waits for a slot while
    -- it holds another, so slots cannot deadlock). While every slot with uses left is busy,
    -- wait a moment and look again: "used up" is answered only when no slot has a use left.
    LOOP
        UPDATE gifts.promo_slots t SET used = t.used + 1, paid = t.paid + p.amount
         WHERE t.promo_id = p.id AND t.active AND t.used < t.max_uses
           AND t.paid + p.amount <= t.budget
           AND t.slot = (SELECT f.slot FROM gifts.promo_slots f
                          WHERE f.promo_id = p.id AND f.active AND f.used < f.max_uses
                            AND f.paid + p.amount <= f.budget
                          ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED)
        RETURNING t.slot, t.used, t.budget - t.paid AS left INTO s;
        EXIT WHEN FOUND;
        IF NOT EXISTS (SELECT FROM gifts.promo_slots f
                        WHERE f.promo_id = p.id AND f.active AND f.used < f.max_uses
                          AND f.paid + p.amount <= f.budget)
           OR clock_timestamp() - started > interval '10 seconds' THEN
            -- Undoes the ordinal recorded above, with the whole statement.
            RAISE EXCEPTION 'promo_unavailable' USING ERRCODE = 'P0001';
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;
    UPDATE gifts.promo_redemptions r SET slot = s.slot, use_number = s.used
     WHERE r.promo_id = p.id AND r.user_id = p_user AND r.n = ord;

    shard := (p.shard + s.slot) % 256;
    slot_key := p.id || ':' || s.slot || ':';
    batch := jsonb_build_array(
        jsonb_build_object(
            'id', md5('promo_budget_void:' || slot_key || (s.used - 1))::uuid,
            'kind', 'void',
            'pending_id', md5('promo_budget:' || slot_key || (s.used - 1))::uuid),
        jsonb_build_object(
            'id', credit_id, 'kind', 'single', 'debit', 'system:promo#' || shard,
            'credit', 'user:' || p_user, 'asset', p.asset, 'amount', p.amount::text,
            'code', 'promo', 'metadata', jsonb_build_object('promo_id', p.id, 'code', p.code)));
    IF s.left > 0 THEN
        batch := batch || jsonb_build_object(
            'id', md5('promo_budget:' || slot_key || s.used)::uuid,
            'kind', 'pending', 'debit', 'system:promo#' || shard,
            'credit', 'system:escrow#' || shard, 'asset', p.asset, 'amount', s.left::text,
            'code', 'promo_budget', 'metadata', jsonb_build_object('promo_id', p.id));
    END IF;
    results := tokens.create_transfers(batch, true);
    SELECT r INTO failure FROM unnest(results) r
     WHERE r NOT IN ('ok', 'exists', 'linked_event_failed') LIMIT 1;
    IF failure IS NOT NULL THEN
        RAISE EXCEPTION '%', failure USING ERRCODE = 'P0001', HINT = 'ledger';
    END IF;
    RETURN jsonb_build_object(
        'result', 'ok', 'promo_id', p.id, 'code', p.code, 'asset', p.asset,
        'decimals', p.decimals, 'amount', p.amount::text, 'transfer_id', credit_id,
        'slot', s.slot, 'use', s.used);
END
$function$
"""

_GRANTS = """
REVOKE ALL ON FUNCTION gifts.redeem_promo(bytea, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gifts.redeem_promo(bytea, uuid) TO gv_service;
"""

_DOWN = """
DROP SCHEMA gifts CASCADE;
DELETE FROM tokens.account_kinds WHERE kind = 'promo'
    AND NOT EXISTS (SELECT FROM tokens.accounts WHERE kind = 'promo');
"""


def upgrade() -> None:
    run_script(_UP)
    run_script(REDEEM_PROMO)
    run_script(_GRANTS)


def downgrade() -> None:
    run_script(_DOWN)
