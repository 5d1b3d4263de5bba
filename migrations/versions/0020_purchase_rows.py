"""A Stars purchase writes fewer rows and holds the ledger's locks for less of its statement.

Revision ID: 0020_purchase_rows
Revises: 0019_purchase_batches
Create Date: 2026-12-04

- `tokens.transfer_events` writes a `balance` event only for a wallet whose balances moved:
  a hold's credit side moves `credits_pending` alone, which no balance figure contains, so
  the eight referrers of a purchase get their transfer event and no balance event (64 fewer
  event rows in a batch of 8 purchases, of 208).
- `ops.next_event_id()` is one SQL expression the planner inlines into each INSERT, instead
  of a plpgsql SECURITY DEFINER call with its own settings and a query per event row. The
  inserting role (`gv_service`) draws from the sequence itself, so it gets USAGE on it.
- `tokens.credit_purchases` calls the ledger last: the reward rows, their events and the
  shared-wallet flag go before it, so the account locks that concurrent purchases queue on
  (the shard accounts, a referrer two buyers share) are held through the ledger and the
  commit only.
"""

from __future__ import annotations

from importlib import import_module

from migrations.sql import run_script

revision = "0020_purchase_rows"
down_revision = "0019_purchase_batches"
branch_labels = None
depends_on = None

_UP = """
GRANT USAGE ON SEQUENCE ops.events_id_seq TO gv_service;
"""

_DOWN = """
REVOKE USAGE ON SEQUENCE ops.events_id_seq FROM gv_service;
"""


def upgrade() -> None:
    run_script(_UP)
    run_script(NEXT_EVENT_ID)
    run_script(TRANSFER_EVENTS)
    run_script(CREDIT_PURCHASES)


def downgrade() -> None:
    before = import_module("migrations.versions.0019_purchase_batches")
    run_script(import_module("migrations.versions.0016_realtime_more").NEXT_EVENT_ID)
    run_script(before.TRANSFER_EVENTS)
    run_script(before.CREDIT_PURCHASES)
    run_script(_DOWN)


# A frozen copy of db/sql/ops/next_event_id.sql as of this migration.
NEXT_EVENT_ID = r"""
-- ops.next_event_id: the default of ops.events.id. It makes sure the inserting transaction
-- has its xid before it draws the id, so that an id drawn before a listener's snapshot always
-- belongs to a transaction that snapshot lists as running or already finished: the listener
-- proves a missing id will never arrive once every transaction its snapshot listed has ended
-- (services/realtime/listener.py). An identity column draws the id before the row's xid.
-- One SQL expression, neither SECURITY DEFINER nor SET, so the planner inlines it into the
-- INSERT: as a plpgsql definer function it cost a call with its own settings and a query per
-- event row (a Stars purchase writes 18). The CASE takes the xid first, then draws. Inserters
-- hold USAGE on the sequence (migration 0020_purchase_rows); the names are schema-qualified.
-- The whole current definition; migrations apply frozen copies of it (0020_purchase_rows).
--
CREATE OR REPLACE FUNCTION ops.next_event_id()
 RETURNS bigint
 LANGUAGE sql
AS $function$
    SELECT CASE WHEN pg_catalog.pg_current_xact_id() IS NOT NULL
                THEN pg_catalog.nextval('ops.events_id_seq'::regclass) END
$function$;
"""

# A frozen copy of db/sql/tokens/transfer_events.sql as of this migration.
TRANSFER_EVENTS = r"""
-- tokens.transfer_events: the statement-level AFTER INSERT trigger on tokens.transfers that
-- writes, in the same transaction, a `transfer` event (in / out) for every user account an
-- applied transfer touched, then one `balance` event per user wallet whose balances it moved,
-- carrying the wallet's new balances (what GET /api/v1/balances answers for that asset).
-- A hold's credit side (pending, and its void or expiry) moves only `credits_pending`, which
-- none of those figures contains: its wallet gets the transfer event and no balance event
-- (eight of a Stars purchase's nine wallets, the referrers' reward holds). The ledger updates
-- the accounts before it inserts the transfers, so the rows read here are the new balances;
-- one event per wallet per statement however many of the batch's transfers touched it.
-- No `decimals` (the client has them from /assets): joining tokens.assets here cost ~0.35 s
-- per statement under the ledger function's settings (a test's 200 racing transfers timed
-- out), while the event's own figures need no other table.
-- One INSERT ... SELECT per statement (tokens.create_transfers writes its batch with one
-- statement), over the transition table of the rows just inserted. It does not NOTIFY: a
-- notifying transaction holds PostgreSQL's notify-queue lock through its commit, which halved
-- the ledger's single-transfer statements at 16 clients (bench/realtime/trigger.py); the
-- listeners poll the table instead.
-- Nested loops over primary keys only: the plan of the statement is cached for the
-- connection's life, and one made while the accounts table was small (a new database, or the
-- bench's) joined by hashing a scan of every account, so each ledger statement cost time in
-- proportion to the number of accounts (7 ms a statement for 600 of them; 1.9 ms like this).
-- The whole current definition; migrations apply frozen copies of it (0020_purchase_rows).
--
CREATE OR REPLACE FUNCTION tokens.transfer_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET enable_hashjoin TO 'off'
 SET enable_mergejoin TO 'off'
 SET enable_bitmapscan TO 'off'
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
             CROSS JOIN LATERAL (VALUES (t.debit_account_id, true),
                                        (t.credit_account_id, t.kind IN ('single', 'post')))
                   AS x(account_id, moved)
             WHERE t.result = 'ok' AND x.moved) x
      JOIN tokens.accounts a ON a.id = x.account_id
     WHERE a.kind = 'wallet';
    RETURN NULL;
END
$function$;
"""

# A frozen copy of db/sql/tokens/credit_purchases.sql as of this migration.
CREDIT_PURCHASES = r"""
-- tokens.credit_purchases: Stars payments credited, any number in one statement.
-- The whole current definition; migrations apply frozen copies of it (0020_purchase_rows).
--
-- Member i is one `successful_payment` (p_*[i]); its answer is element i of the result:
--   {"result": "ok", "purchase_id", "vibe", "settled", "rewards"}   credited now
--   {"result": "exists", "purchase_id", "vibe"}                     a replay of its charge id
--   {"result": <the ledger's failure code>}                          refused; nothing of it kept
-- A member credited now gets, in this transaction: its purchase row, the settlement of what
-- earlier forced refunds left owing (oldest debt first), a reward hold for each ancestor
-- within the levels (floor(vibe × bps / 10 000) VIBE units; a banned or deleted ancestor keeps
-- their level and is paid nothing), the reward rows, the referrers' totals and
-- `referral_reward` events, and the shared-wallet rule. The money of each member is one linked
-- group in one unlinked ledger batch: one member's refusal never touches another's credit.
-- Rows are locked in the order every writer of them uses: purchases by charge id, debts by
-- user, totals by (level, referrer), then the ledger's accounts. The ledger goes last: its
-- account locks are the ones concurrent purchases queue on (a shared shard, a referrer two
-- buyers share), and the reward rows, events and flags written before it no longer extend
-- them. A refused member undoes those too (the subtransaction below).
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
    v_amount numeric;
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
            FOR r IN
                SELECT i AS m, a.depth, a.ancestor_id
                  FROM generate_subscripts(p_users, 1) i
                 CROSS JOIN LATERAL (
                       SELECT l.depth, l.ancestor_id
                         FROM referrals.links l JOIN auth.users u ON u.id = l.ancestor_id
                        WHERE l.descendant_id = p_users[i] AND l.depth <= levels
                          AND u.banned_at IS NULL AND u.deleted_at IS NULL
                       OFFSET 0) a
                 WHERE fresh[i]
                 ORDER BY i, a.depth
            LOOP
                v_amount := floor(p_vibes[r.m] * p_levels_bps[r.depth] / 10000);
                CONTINUE WHEN v_amount <= 0;
                w_member := w_member || r.m;
                w_level := w_level || r.depth;
                w_referrer := w_referrer || r.ancestor_id;
                w_amount := w_amount || v_amount;
                w_id := w_id || p_reward_ids[(r.m - 1) * levels + r.depth];
                rewards[r.m] := rewards[r.m] + 1;
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

            WITH held AS (
                INSERT INTO referrals.rewards (id, source, level, referrer_id, referee_id, amount,
                                               available_at)
                SELECT w.id, 'stars:' || p_charges[w.m], w.level, w.referrer, p_users[w.m],
                       w.amount, now() + make_interval(days => p_hold_days)
                  FROM unnest(w_member, w_level, w_referrer, w_amount, w_id)
                       AS w(m, level, referrer, amount, id)
                 WHERE fresh[w.m]
                ON CONFLICT DO NOTHING
                RETURNING referrer_id, level, amount, available_at
            )
            INSERT INTO ops.events (user_id, channel, type, data)
            SELECT h.referrer_id, 'user', 'referral_reward',
                   jsonb_build_object('level', h.level, 'asset', p_asset, 'amount', h.amount::text,
                                      'available_at', h.available_at)
              FROM held h;

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
