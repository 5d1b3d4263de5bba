"""A purchase's referral rewards are one row, not eight: `referrals.reward_events`.

Revision ID: 0025_reward_events
Revises: 0024_batch_scaling
Create Date: 2026-12-04

`referrals.rewards` kept a row per reward: 8 heap rows, 56 index entries and 9 foreign-key row
locks a purchase, a quarter of its cost (README, "Where a purchase's cost goes"). The ledger's
holds already carry each reward (its id derived from (source, level), its referrer the credited
account, its amount) and know its state: a hold with a post is paid, with a void is voided,
with neither is held. What the ledger does not know is kept once per qualifying event:

- `referrals.reward_events`: the event's source, the referee, the holds' ids with their levels,
  referrers and amounts (arrays, nearest level first), when they become payable, and when the
  notice job took them and the last of them was resolved. The posting job finds due events
  through `reward_events_due_idx`, a rejection the referee's through `reward_events_referee_idx`
  (a referrer's through the ledger's credits), the daily-cap scan today's through a BRIN index
  (one summary per range of pages, written as the table grows, instead of an entry per row).
- `referrals.notice_items`: rewards the notice job took but has not announced yet (a referrer
  told less than a minute ago waits); written and emptied by that job, off the purchase path.
- `referrals.rewards` becomes a view of the two, with a reward's status read from the ledger:
  what reads rewards (the daily-cap scan, the invariant check, admins) reads the same shape.

Existing rewards move: one event per source; a reward nobody was told of yet (and not voided)
becomes a notice item, so nobody is told twice or missed.
"""

from __future__ import annotations

from importlib import import_module

from migrations.sql import run_script

revision = "0025_reward_events"
down_revision = "0024_batch_scaling"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(_UP)
    run_script(CREDIT_PURCHASES)


def downgrade() -> None:
    run_script(_DOWN)
    run_script(import_module("migrations.versions.0024_batch_scaling").CREDIT_PURCHASES)


# Every reward with its status from the ledger: a hold with a post is paid, with a void (or an
# expiry, which reward holds never have) is voided, with neither is still held.
_VIEW = """
CREATE VIEW referrals.rewards AS
SELECT x.id, e.source, x.level, x.referrer_id, e.referee_id, x.amount,
       CASE WHEN r.id IS NULL THEN 'held' WHEN r.kind = 'post' THEN 'posted' ELSE 'voided' END
           AS status,
       e.available_at, r.created_at AS resolved_at, e.created_at
  FROM referrals.reward_events e
 CROSS JOIN LATERAL unnest(e.ids, e.levels, e.referrers, e.amounts)
       AS x(id, level, referrer_id, amount)
  LEFT JOIN tokens.transfers r ON r.pending_id = x.id AND r.result = 'ok';
GRANT SELECT ON referrals.rewards TO gv_service;
"""

_UP = (
    """
CREATE TABLE referrals.reward_events (
    source        text PRIMARY KEY CHECK (length(source) BETWEEN 1 AND 200),
    referee_id    uuid NOT NULL REFERENCES auth.users (id),
    ids           uuid[] NOT NULL,
    levels        smallint[] NOT NULL,
    -- No foreign key on an array: each referrer is the credited account of its ledger hold.
    referrers     uuid[] NOT NULL,
    amounts       numeric(39, 0)[] NOT NULL,
    available_at  timestamptz NOT NULL,
    notified_at   timestamptz,
    resolved_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(ids) BETWEEN 1 AND 8 AND cardinality(levels) = cardinality(ids)
           AND cardinality(referrers) = cardinality(ids)
           AND cardinality(amounts) = cardinality(ids)
           AND array_position(ids, NULL) IS NULL AND array_position(referrers, NULL) IS NULL
           AND 0 < ALL (amounts) AND 1 <= ALL (levels) AND 8 >= ALL (levels))
);
-- (available_at, source): the posting job walks it in key order, past events a flag holds.
CREATE INDEX reward_events_due_idx ON referrals.reward_events (available_at, source)
    WHERE resolved_at IS NULL;
CREATE INDEX reward_events_referee_idx ON referrals.reward_events (referee_id)
    WHERE resolved_at IS NULL;
CREATE INDEX reward_events_unnotified_idx ON referrals.reward_events (created_at)
    WHERE notified_at IS NULL;
CREATE INDEX reward_events_created_idx ON referrals.reward_events USING brin (created_at);

CREATE TABLE referrals.notice_items (
    reward_id     uuid PRIMARY KEY,
    referrer_id   uuid NOT NULL REFERENCES auth.users (id),
    level         smallint NOT NULL CHECK (level BETWEEN 1 AND 8),
    amount        numeric(39, 0) NOT NULL CHECK (amount > 0),
    available_at  timestamptz NOT NULL
);
CREATE INDEX notice_items_referrer_idx ON referrals.notice_items (referrer_id);

-- Moved before row security applies: the owner itself only reads these tables.
INSERT INTO referrals.reward_events (source, referee_id, ids, levels, referrers, amounts,
                                     available_at, notified_at, resolved_at, created_at)
SELECT source, (array_agg(referee_id))[1], array_agg(id ORDER BY level),
       array_agg(level ORDER BY level), array_agg(referrer_id ORDER BY level),
       array_agg(amount ORDER BY level), min(available_at),
       coalesce(max(notified_at), min(created_at)),
       CASE WHEN bool_and(status <> 'held') THEN max(resolved_at) END, min(created_at)
  FROM referrals.rewards GROUP BY source;
INSERT INTO referrals.notice_items (reward_id, referrer_id, level, amount, available_at)
SELECT id, referrer_id, level, amount, available_at FROM referrals.rewards
 WHERE notified_at IS NULL AND status <> 'voided';
ALTER TABLE referrals.reward_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.reward_events FORCE ROW LEVEL SECURITY;
ALTER TABLE referrals.notice_items ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.notice_items FORCE ROW LEVEL SECURITY;
CREATE POLICY reward_events_service ON referrals.reward_events FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY notice_items_service ON referrals.notice_items FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
-- The rewards view runs as its owner, held to this by FORCE.
CREATE POLICY reward_events_owner ON referrals.reward_events FOR SELECT TO gv_owner
    USING (true);
GRANT SELECT, INSERT, UPDATE ON referrals.reward_events TO gv_service;
GRANT SELECT, INSERT, DELETE ON referrals.notice_items TO gv_service;

DROP TABLE referrals.rewards;
"""
    + _VIEW
)

_DOWN = """
DROP VIEW referrals.rewards;
-- The owner reads what it is about to drop: row security would hide the notice items from it.
ALTER TABLE referrals.notice_items NO FORCE ROW LEVEL SECURITY;
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
INSERT INTO referrals.rewards (id, source, level, referrer_id, referee_id, amount, status,
                               available_at, notified_at, resolved_at, created_at)
SELECT x.id, e.source, x.level, x.referrer_id, e.referee_id, x.amount,
       CASE WHEN r.id IS NULL THEN 'held' WHEN r.kind = 'post' THEN 'posted' ELSE 'voided' END,
       e.available_at,
       CASE WHEN i.reward_id IS NULL THEN coalesce(e.notified_at, r.created_at) END,
       r.created_at, e.created_at
  FROM referrals.reward_events e
 CROSS JOIN LATERAL unnest(e.ids, e.levels, e.referrers, e.amounts)
       AS x(id, level, referrer_id, amount)
  LEFT JOIN tokens.transfers r ON r.pending_id = x.id AND r.result = 'ok'
  LEFT JOIN referrals.notice_items i ON i.reward_id = x.id;
CREATE INDEX rewards_due_idx ON referrals.rewards (available_at) WHERE status = 'held';
CREATE INDEX rewards_referee_idx ON referrals.rewards (referee_id) WHERE status = 'held';
CREATE INDEX rewards_unnotified_idx ON referrals.rewards (referrer_id) WHERE notified_at IS NULL;
CREATE INDEX rewards_referrer_idx ON referrals.rewards (referrer_id) WHERE status = 'held';
CREATE INDEX rewards_created_idx ON referrals.rewards (created_at);
ALTER TABLE referrals.rewards ENABLE ROW LEVEL SECURITY;
ALTER TABLE referrals.rewards FORCE ROW LEVEL SECURITY;
CREATE POLICY rewards_service ON referrals.rewards FOR ALL TO gv_service
    USING (true) WITH CHECK (true);
CREATE POLICY rewards_owner ON referrals.rewards FOR SELECT TO gv_owner USING (true);
GRANT SELECT, INSERT, UPDATE ON referrals.rewards TO gv_service;
DROP TABLE referrals.notice_items;
DROP TABLE referrals.reward_events;
"""

# A frozen copy of db/sql/tokens/credit_purchases.sql as of this migration.
CREDIT_PURCHASES = r"""
-- tokens.credit_purchases: Stars payments credited, any number in one statement.
-- The whole current definition; migrations apply frozen copies of it (0025_reward_events).
--
-- Member i is one `successful_payment` (p_*[i]); its answer is element i of the result:
--   {"result": "ok", "purchase_id", "vibe", "settled", "rewards"}   credited now
--   {"result": "exists", "purchase_id", "vibe"}                     a replay of its charge id
--   {"result": <the ledger's failure code>}                          refused; nothing of it kept
-- A member credited now gets, in this transaction: its purchase row, the settlement of what
-- earlier forced refunds left owing (oldest debt first), a reward hold for each ancestor
-- within the levels (floor(vibe × bps / 10 000) VIBE units; a banned or deleted ancestor keeps
-- their level and is paid nothing), one `referrals.reward_events` row naming them, the
-- referrers' totals and the shared-wallet rule; the referrers' open apps learn of their
-- rewards from the holds' `transfer` events, which the ledger writes. The money of each
-- member is one linked group in one unlinked ledger batch: one member's refusal never touches
-- another's credit.
-- Rows are locked in the order every writer of them uses: purchases by charge id, debts by
-- user, totals by (level, referrer), then the ledger's accounts. The ledger goes last: its
-- account locks are the ones concurrent purchases queue on (a shared shard, a referrer two
-- buyers share), and the reward events and flags written before it no longer extend
-- them. A refused member undoes those too (the subtransaction below).
-- A purchase's rewards are one event row, not a row per reward: 8 rows with their indexes and
-- foreign keys were a quarter of a purchase's cost (README, "Where a purchase's cost goes").
-- Ids: the credit's and the rewards' come from the caller (derived from the charge id there,
-- `services.purchases.service`); a debt settlement's from (charge id, debt), here.
-- Every read is a few rows by key, planned once per connection: no hashing of scans, which a
-- plan made while the tables were small chose (the upline read every user and link).
-- `p_reward_ids` holds one id per member and level: member i's level L is element
-- (i - 1) × cardinality(p_levels_bps) + L.
--
CREATE OR REPLACE FUNCTION tokens.credit_purchases(p_charges text[], p_users uuid[], p_telegram_ids bigint[], p_packs text[], p_stars integer[], p_vibes numeric[], p_credit_ids uuid[], p_reward_ids uuid[], p_levels_bps integer[], p_hold_days integer, p_asset text, p_shards integer, p_wallet_score integer)
 RETURNS jsonb
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET enable_seqscan TO 'off'
 SET enable_hashjoin TO 'off'
 SET enable_mergejoin TO 'off'
AS $function$
DECLARE
    n integer := coalesce(cardinality(p_charges), 0);
    levels integer := cardinality(p_levels_bps);
    ids uuid[] := array_fill(NULL::uuid, ARRAY[n]);
    fresh boolean[] := array_fill(false, ARRAY[n]);
    answers jsonb[] := array_fill(NULL::jsonb, ARRAY[n]);
    v_settled numeric[] := array_fill(0::numeric, ARRAY[n]);
    rewards integer[] := array_fill(0, ARRAY[n]);
    sizes integer[] := array_fill(0, ARRAY[n]);
    -- debt settlements: member, debt (its purchase), amount
    d_member integer[] := '{}';
    d_debt uuid[] := '{}';
    d_paid numeric[] := '{}';
    -- rewards: member, level, referrer, amount, id
    w_member integer[] := '{}';
    w_level smallint[] := '{}';
    w_referrer uuid[] := '{}';
    w_amount numeric[] := '{}';
    w_id uuid[] := '{}';
    batch jsonb;
    results text[];
    failed integer[] := '{}';
    pos integer := 1;
    code text;
    owed numeric;
    paid numeric;
    r record;
    m integer;
    k integer;
BEGIN
    IF n = 0 THEN
        RETURN '[]'::jsonb;
    END IF;
    IF (SELECT count(DISTINCT c) FROM unnest(p_charges) c) <> n THEN
        RAISE EXCEPTION 'a charge id appears twice in one batch' USING ERRCODE = '22023';
    END IF;
    -- A member whose group the ledger refuses keeps nothing: the attempt is undone and made
    -- again without it (`answers[m]` set: left out). One subtransaction per call; the retry
    -- happens only when a ledger group fails, which valid packs never make it do.
    LOOP
        BEGIN
            ids := array_fill(NULL::uuid, ARRAY[n]);
            fresh := array_fill(false, ARRAY[n]);
            v_settled := array_fill(0::numeric, ARRAY[n]);
            rewards := array_fill(0, ARRAY[n]);
            sizes := array_fill(0, ARRAY[n]);
            d_member := '{}'; d_debt := '{}'; d_paid := '{}';
            w_member := '{}'; w_level := '{}'; w_referrer := '{}'; w_amount := '{}'; w_id := '{}';
            failed := '{}';
            pos := 1;
            batch := NULL;
            results := NULL;
            -- Once per charge id. A concurrent transaction inserting the same charge makes
            -- this wait for its commit, then skip the row: that member is a replay.
            FOR r IN
                INSERT INTO tokens.purchases (user_id, charge_id, pack_id, stars, vibe)
                SELECT p_users[i], p_charges[i], p_packs[i], p_stars[i], p_vibes[i]
                  FROM generate_subscripts(p_charges, 1) i
                 WHERE answers[i] IS NULL
                 ORDER BY p_charges[i]
                ON CONFLICT (charge_id) DO NOTHING
                RETURNING id, charge_id
            LOOP
                m := array_position(p_charges, r.charge_id);
                ids[m] := r.id;
                fresh[m] := true;
            END LOOP;

            -- What forced refunds left owing comes out of the buyer's next credits first.
            FOR r IN
                SELECT d.purchase_id, d.user_id, d.amount - d.settled AS owed
                  FROM tokens.debts d
                 WHERE d.user_id = ANY (SELECT p_users[i] FROM generate_subscripts(p_users, 1) i
                                         WHERE fresh[i])
                   AND d.settled < d.amount
                 ORDER BY d.user_id, d.created_at
                   FOR UPDATE
            LOOP
                owed := r.owed;
                FOR m IN 1..n LOOP
                    EXIT WHEN owed = 0;
                    CONTINUE WHEN NOT fresh[m] OR p_users[m] <> r.user_id
                                  OR v_settled[m] = p_vibes[m];
                    paid := least(owed, p_vibes[m] - v_settled[m]);
                    v_settled[m] := v_settled[m] + paid;
                    owed := owed - paid;
                    d_member := d_member || m;
                    d_debt := d_debt || r.purchase_id;
                    d_paid := d_paid || paid;
                END LOOP;
            END LOOP;

            -- The upline, nearest first: one range of the closure table's primary key per buyer.
            -- Gathered by one query, not appended row by row (each append copied the arrays).
            SELECT coalesce(array_agg(x.m ORDER BY x.m, x.depth), '{}'),
                   coalesce(array_agg(x.depth ORDER BY x.m, x.depth), '{}'),
                   coalesce(array_agg(x.ancestor_id ORDER BY x.m, x.depth), '{}'),
                   coalesce(array_agg(x.amount ORDER BY x.m, x.depth), '{}'),
                   coalesce(array_agg(p_reward_ids[(x.m - 1) * levels + x.depth]
                                      ORDER BY x.m, x.depth), '{}')
              INTO w_member, w_level, w_referrer, w_amount, w_id
              FROM (SELECT i AS m, a.depth, a.ancestor_id,
                           floor(p_vibes[i] * p_levels_bps[a.depth] / 10000) AS amount
                      FROM generate_subscripts(p_users, 1) i
                     CROSS JOIN LATERAL (
                           SELECT l.depth, l.ancestor_id
                             FROM referrals.links l JOIN auth.users u ON u.id = l.ancestor_id
                            WHERE l.descendant_id = p_users[i] AND l.depth <= levels
                              AND u.banned_at IS NULL AND u.deleted_at IS NULL
                           OFFSET 0) a
                     WHERE fresh[i]) x
             WHERE x.amount > 0;
            FOR k IN 1..cardinality(w_member) LOOP
                rewards[w_member[k]] := rewards[w_member[k]] + 1;
            END LOOP;

            -- Totals before the ledger's accounts, in (level, referrer) order, like every writer.
            INSERT INTO referrals.totals (referrer_id, level, pending)
            SELECT x.referrer, x.level, sum(x.amount)
              FROM unnest(w_referrer, w_level, w_amount) AS x(referrer, level, amount)
             GROUP BY x.level, x.referrer
             ORDER BY x.level, x.referrer
            ON CONFLICT (referrer_id, level)
            DO UPDATE SET pending = referrals.totals.pending + excluded.pending;

            IF d_member <> '{}' THEN  -- rare; the empty statement cost 0.1 ms a batch
                UPDATE tokens.debts t SET settled = t.settled + x.paid
                  FROM (SELECT d.debt, sum(d.paid) AS paid
                          FROM unnest(d_member, d_debt, d_paid) AS d(m, debt, paid)
                         WHERE fresh[d.m]
                         GROUP BY d.debt) x
                 WHERE t.purchase_id = x.debt;
            END IF;

            -- No ON CONFLICT: a source derives from its purchase's charge id, and only the
            -- statement that inserted that purchase gets here.
            INSERT INTO referrals.reward_events (source, referee_id, ids, levels, referrers,
                                                 amounts, available_at)
            SELECT 'stars:' || p_charges[w.m], p_users[w.m], array_agg(w.id ORDER BY w.level),
                   array_agg(w.level ORDER BY w.level), array_agg(w.referrer ORDER BY w.level),
                   array_agg(w.amount ORDER BY w.level), now() + make_interval(days => p_hold_days)
              FROM unnest(w_member, w_level, w_referrer, w_amount, w_id)
                   AS w(m, level, referrer, amount, id)
             WHERE fresh[w.m]
             GROUP BY w.m;

            -- Shared wallets: an address the buyer shares with an ancestor just rewarded.
            INSERT INTO referrals.flags (user_id, rule, score, evidence)
            SELECT s.buyer, 'shared_wallet', p_wallet_score,
                   jsonb_build_object('shared_with', jsonb_object_agg(s.referrer, s.addresses))
              FROM (SELECT p_users[w.m] AS buyer, w.referrer,
                           jsonb_agg(DISTINCT mine.address ORDER BY mine.address) AS addresses
                      FROM unnest(w_member, w_referrer) AS w(m, referrer)
                      JOIN auth.wallet_addresses mine ON mine.user_id = p_users[w.m]
                      JOIN auth.wallet_addresses theirs
                        ON theirs.user_id = w.referrer AND theirs.address = mine.address
                     WHERE fresh[w.m]
                     GROUP BY 1, 2) s
             GROUP BY s.buyer
            ON CONFLICT (user_id, rule) WHERE status = 'open'
            DO UPDATE SET evidence = excluded.evidence, score = excluded.score;

            -- The money, last: the ledger locks the hottest rows (the shard accounts, busy
            -- referrers' wallets), and holds them from here to the commit only.
            -- Per member: the credit, the settlements, the holds, linked as one group.
            SELECT jsonb_agg(t.item ORDER BY t.m, t.ord, t.seq) INTO batch
              FROM (
                SELECT i AS m, 0 AS ord, 0 AS seq, jsonb_build_object(
                           'id', p_credit_ids[i], 'kind', 'single',
                           'debit', 'system:stars_sales#' || (p_telegram_ids[i] % p_shards),
                           'credit', 'user:' || p_users[i], 'asset', p_asset,
                           'amount', p_vibes[i]::text, 'code', 'stars_purchase', 'group', i,
                           'metadata', jsonb_build_object(
                               'charge_id', p_charges[i], 'pack_id', p_packs[i],
                               'stars', p_stars[i])
                       ) AS item
                  FROM generate_subscripts(p_charges, 1) i
                 WHERE fresh[i]
                UNION ALL
                SELECT d.m, 1, d.seq, jsonb_build_object(
                           'id', md5('debt:' || p_charges[d.m] || ':' || d.debt)::uuid,
                           'kind', 'single', 'debit', 'user:' || p_users[d.m],
                           'credit', 'system:stars_sales#' || (p_telegram_ids[d.m] % p_shards),
                           'asset', p_asset, 'amount', d.paid::text, 'code', 'refund_debt',
                           'group', d.m,
                           'metadata', jsonb_build_object('refunded_purchase', d.debt))
                  FROM unnest(d_member, d_debt, d_paid) WITH ORDINALITY AS d(m, debt, paid, seq)
                UNION ALL
                SELECT w.m, 2, w.level, jsonb_build_object(
                           'id', w.id, 'kind', 'pending',
                           'debit', 'system:referral_rewards#' || (p_telegram_ids[w.m] % p_shards),
                           'credit', 'user:' || w.referrer, 'asset', p_asset,
                           'amount', w.amount::text, 'code', 'referral_reward', 'group', w.m,
                           'metadata', jsonb_build_object('source', 'stars:' || p_charges[w.m],
                                                          'level', w.level))
                  FROM unnest(w_member, w_level, w_referrer, w_amount, w_id)
                       AS w(m, level, referrer, amount, id)
              ) t;
            FOR m IN 1..n LOOP
                IF fresh[m] THEN
                    sizes[m] := 1 + rewards[m]
                                + coalesce(array_length(array_positions(d_member, m), 1), 0);
                END IF;
            END LOOP;
            IF batch IS NOT NULL THEN
                results := tokens.create_transfers(batch, false);
            END IF;

            -- A refused group: its member answers the first failure among its transfers.
            FOR m IN 1..n LOOP
                CONTINUE WHEN NOT fresh[m];
                code := NULL;
                FOR k IN pos..pos + sizes[m] - 1 LOOP
                    IF results[k] NOT IN ('ok', 'exists')
                       AND (code IS NULL OR code = 'linked_event_failed') THEN
                        code := results[k];
                    END IF;
                END LOOP;
                pos := pos + sizes[m];
                IF code IS NOT NULL THEN
                    fresh[m] := false;
                    failed := failed || m;
                    answers[m] := jsonb_build_object('result', code);
                END IF;
            END LOOP;
            IF failed <> '{}' THEN
                RAISE EXCEPTION 'ledger refused % of % purchases', cardinality(failed), n
                      USING ERRCODE = 'GVP01';
            END IF;
            EXIT;
        EXCEPTION WHEN SQLSTATE 'GVP01' THEN
            NULL;  -- again, without the members just refused
        END;
    END LOOP;

    FOR m IN 1..n LOOP
        IF fresh[m] THEN
            answers[m] := jsonb_build_object(
                'result', 'ok', 'purchase_id', ids[m], 'vibe', p_vibes[m]::text,
                'settled', v_settled[m]::text, 'rewards', rewards[m]);
        ELSIF answers[m] IS NULL THEN
            answers[m] := (SELECT jsonb_build_object('result', 'exists', 'purchase_id', p.id,
                                                     'vibe', p.vibe::text)
                             FROM tokens.purchases p WHERE p.charge_id = p_charges[m]);
        END IF;
    END LOOP;
    RETURN to_jsonb(answers);
END
$function$;
"""  # noqa: E501 - the signature, as pg_get_functiondef prints it
