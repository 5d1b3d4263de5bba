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
