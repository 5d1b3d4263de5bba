"""The ledger and the Stars purchase function work in proportion to their batch, not its square.

Revision ID: 0024_batch_scaling
Revises: 0023_promo_causes
Create Date: 2026-12-04

- `tokens.create_transfers` found each transfer's accounts by searching the array of locked
  accounts, gathered the wanted accounts by searching the array built so far, and copied every
  account's figures at the start of each linked group to undo a failed one. In a statement of
  64 purchases (576 transfers over ~300 accounts) those searches and copies grew with the
  square of the batch. Now: one query gathers the accounts, a jsonb object maps an account to
  its position, and a group keeps an undo log of the figures it changed.
- `tokens.credit_purchases` gathers the rewards with one aggregate instead of appending to
  five arrays row by row.
- `tokens.credit_purchases` no longer writes a `referral_reward` event per reward: the
  referrer's app already gets the hold's `transfer` event from the ledger (8 event rows fewer
  a purchase, of 18). Its reward rows are a plain insert: their ids derive from the charge id
  of a purchase this statement just inserted, so the conflict check (a probe of two unique
  indexes per reward) could never find one.
- `tokens.create_transfers` opens a missing account also when the batch's other rows fill the
  count: the lock took cross pairs (X's TON and Y's VIBE for a batch of X's VIBE and Y's TON),
  and as many rows as accounts wanted ended the search though X's VIBE did not exist yet
  (`account_not_found`). It now checks that every wanted account is among those locked.
"""

from __future__ import annotations

from importlib import import_module

from migrations.sql import run_script

revision = "0024_batch_scaling"
down_revision = "0023_promo_causes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_script(CREATE_TRANSFERS)
    run_script(CREDIT_PURCHASES)


def downgrade() -> None:
    run_script(import_module("migrations.versions.0017_market_safety").CREATE_TRANSFERS)
    run_script(import_module("migrations.versions.0020_purchase_rows").CREDIT_PURCHASES)


# A frozen copy of db/sql/tokens/create_transfers.sql as of this migration.
CREATE_TRANSFERS = r"""
-- tokens.create_transfers: every money movement, one call.
-- The whole current definition; migrations apply frozen copies of it (0024_batch_scaling).
--
CREATE OR REPLACE FUNCTION tokens.create_transfers(batch jsonb, linked boolean DEFAULT true)
 RETURNS text[]
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET plan_cache_mode TO 'force_generic_plan'
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
    n integer;
    ids uuid[];
    kinds text[];
    debits text[];
    credits text[];
    assets text[];
    amounts numeric[];
    codes text[];
    metas jsonb[];
    pids uuid[];
    timeouts integer[];
    limits numeric[];
    -- the daily counter a limited transfer counts on: `limit_code`, else its own code
    lcodes text[];
    fps uuid[];
    grps integer[];
    results text[];
    -- where the current group starts
    g_start integer;
    i integer;
    k integer;
    failed boolean := false;
    -- replays
    f_id uuid[];
    f_result text[];
    f_fp uuid[];
    -- account keys wanted by single/pending transfers, as `address|asset`
    wants boolean[];
    k_addr text[] := '{}';
    k_asset text[] := '{}';
    k_key text[] := '{}';
    -- locked accounts, held in memory while the batch is checked
    a_id bigint[];
    a_key text[];
    a_flags integer[];
    a_dpend numeric[];
    a_dpost numeric[];
    a_cpend numeric[];
    a_cpost numeric[];
    a_daily jsonb[];
    a_dirty boolean[];
    -- `address|asset` -> position in a_*: one lookup per account side, not a search of a_key
    a_pos jsonb;
    -- an account id / a hold id -> its position in a_* / h_*, for the holds being resolved
    a_ipos jsonb;
    h_pos jsonb;
    -- what the current group changed, to undo if one of its transfers fails: per change, the
    -- account's position and its figures before (a copy of every account per group was
    -- quadratic in a batch of many groups); appended one element at a time, which plpgsql
    -- does in place (a linked batch is one group, however long)
    u_pos integer[];
    u_dpend numeric[];
    u_dpost numeric[];
    u_cpend numeric[];
    u_cpost numeric[];
    u_daily jsonb[];
    u_dirty boolean[];
    u_hold integer[];
    u_done text[];
    today text := (now() AT TIME ZONE 'UTC')::date::text;
    -- holds referenced by post/void/expire
    want_holds uuid[] := '{}';
    h_id uuid[] := '{}';
    h_kind text[];
    h_result text[];
    h_debit bigint[];
    h_credit bigint[];
    h_asset text[];
    h_amount numeric[];
    h_expires timestamptz[];
    h_code text[];
    h_done text[];
    r_pid uuid[];
    r_kind text[];
    hold_accounts bigint[] := '{}';
    -- per transfer, what gets stored
    t_debit bigint[];
    t_credit bigint[];
    t_asset text[];
    t_amount numeric[];
    t_code text[];
    t_expires timestamptz[];
    t_store boolean[];
    di integer;
    ci integer;
    hi integer;
    amt numeric;
    spent numeric;
    stored integer;
    -- the batch's assets and their limits (migration 0006)
    s_code text[];
    s_max_amount numeric[];
    s_max_supply numeric[];
    si integer;
    -- the largest account total NUMERIC(39,0) holds
    max_total CONSTANT numeric := 999999999999999999999999999999999999999;
BEGIN
    -- jsonb_array_elements yields the elements in order, and every aggregate of one query
    -- sees the rows in the same order, so the arrays stay aligned.
    SELECT count(*)::integer, array_agg((e->>'id')::uuid),
           array_agg(coalesce(e->>'kind', 'single')),
           array_agg(e->>'debit'), array_agg(e->>'credit'), array_agg(e->>'asset'),
           array_agg((e->>'amount')::numeric), array_agg(e->>'code'),
           array_agg(coalesce(e->'metadata', '{}'::jsonb)), array_agg((e->>'pending_id')::uuid),
           array_agg((e->>'timeout')::integer), array_agg((e->>'daily_limit')::numeric),
           array_agg(coalesce(e->>'limit_code', e->>'code')),
           array_agg(md5((e - 'id' - 'group')::text)::uuid), array_agg((e->>'group')::integer)
      INTO n, ids, kinds, debits, credits, assets, amounts, codes, metas, pids, timeouts,
           limits, lcodes, fps, grps
      FROM jsonb_array_elements(batch) e;
    IF n = 0 THEN
        RETURN '{}'::text[];
    END IF;
    results := array_fill(NULL::text, ARRAY[n]);
    -- Groups: linked transfers succeed or fail together. `linked` makes the whole batch one
    -- group; otherwise transfers sharing a `group` number (consecutive) are linked and the
    -- others stand alone.
    FOR i IN 1..n LOOP
        IF ids[i] IS NULL OR array_position(ids, ids[i]) <> i THEN
            RAISE EXCEPTION 'every transfer needs its own id' USING ERRCODE = '22023';
        END IF;
        grps[i] := CASE WHEN linked THEN 0 ELSE coalesce(grps[i], -i) END;
        IF i > 1 AND grps[i] <> grps[i - 1] AND array_position(grps, grps[i]) < i THEN
            RAISE EXCEPTION 'a group''s transfers must be consecutive' USING ERRCODE = '22023';
        END IF;
    END LOOP;

    -- Calls carrying the same id queue here (ids in sorted order, before any account lock, so
    -- no two calls wait on each other crosswise): the later one then finds the earlier one's
    -- outcome below instead of racing it to the insert.
    PERFORM pg_advisory_xact_lock(1734829, hashtext(x::text))
       FROM (SELECT DISTINCT unnest(ids) AS x ORDER BY 1) s;

    -- Replays: the same id returns its first outcome.
    SELECT array_agg(t.id), array_agg(t.result), array_agg(t.fingerprint)
      INTO f_id, f_result, f_fp
      FROM tokens.transfers t WHERE t.id = ANY (ids);
    IF f_id IS NOT NULL THEN
        FOR k IN 1..cardinality(f_id) LOOP
            i := array_position(ids, f_id[k]);
            results[i] := CASE WHEN f_fp[k] <> fps[i] THEN 'exists_with_different_fields'
                               WHEN f_result[k] = 'ok' THEN 'exists'
                               ELSE f_result[k] END;
        END LOOP;
        IF cardinality(f_id) = n THEN
            RETURN results;
        END IF;
        -- A group partly applied before cannot apply the rest now.
        FOR i IN 1..n LOOP
            IF results[i] IS NULL THEN
                FOR k IN 1..n LOOP
                    IF grps[k] = grps[i] AND results[k] IS NOT NULL
                       AND results[k] <> 'linked_event_failed' THEN
                        results[i] := 'linked_event_failed';
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
        END LOOP;
    END IF;

    -- Checks on the request alone; their failures are not stored (a retry fails the same way).
    wants := array_fill(false, ARRAY[n]);
    FOR i IN 1..n LOOP
        CONTINUE WHEN results[i] IS NOT NULL;
        IF kinds[i] NOT IN ('single', 'pending', 'post', 'void', 'expire') THEN
            results[i] := 'invalid_kind';
        ELSIF jsonb_typeof(metas[i]) <> 'object' THEN
            results[i] := 'metadata_must_be_object';
        ELSIF pg_column_size(metas[i]) > 4096 THEN
            results[i] := 'metadata_too_large';
        ELSIF amounts[i] IS NOT NULL
              AND (amounts[i] <> trunc(amounts[i]) OR amounts[i] >= 1e39) THEN
            results[i] := 'amount_must_be_integer';
        ELSIF kinds[i] IN ('single', 'pending') THEN
            IF amounts[i] IS NULL OR amounts[i] <= 0 THEN
                results[i] := 'amount_must_be_positive';
            ELSIF debits[i] IS NULL OR credits[i] IS NULL OR assets[i] IS NULL THEN
                results[i] := 'accounts_required';
            ELSIF debits[i] = credits[i] THEN
                results[i] := 'accounts_must_be_different';
            ELSIF coalesce(codes[i], '') = '' THEN
                results[i] := 'code_required';
            ELSIF pids[i] IS NOT NULL THEN
                results[i] := 'pending_id_must_be_null';
            ELSIF timeouts[i] IS NOT NULL AND (kinds[i] <> 'pending' OR timeouts[i] <= 0) THEN
                results[i] := 'timeout_reserved_for_pending_transfer';
            ELSE
                wants[i] := true;
            END IF;
        ELSE
            IF pids[i] IS NULL THEN
                results[i] := 'pending_id_required';
            ELSIF amounts[i] IS NOT NULL AND (amounts[i] <= 0 OR kinds[i] <> 'post') THEN
                results[i] := 'amount_must_be_positive';
            ELSIF timeouts[i] IS NOT NULL OR limits[i] IS NOT NULL THEN
                results[i] := 'timeout_reserved_for_pending_transfer';
            ELSE
                want_holds := want_holds || pids[i];
            END IF;
        END IF;
        IF results[i] IS NOT NULL THEN
            failed := true;
        END IF;
    END LOOP;
    IF failed THEN
        FOR i IN 1..n LOOP
            IF results[i] IS NULL THEN
                FOR k IN 1..n LOOP
                    IF grps[k] = grps[i] AND results[k] IS NOT NULL THEN
                        results[i] := 'linked_event_failed';
                        EXIT;
                    END IF;
                END LOOP;
            END IF;
        END LOOP;
        IF array_position(results, NULL) IS NULL THEN
            RETURN results;
        END IF;
        failed := false;
    END IF;
    -- The accounts the valid single and pending transfers name, each once.
    SELECT coalesce(array_agg(k.address), '{}'), coalesce(array_agg(k.asset), '{}'),
           coalesce(array_agg(k.address || '|' || k.asset), '{}')
      INTO k_addr, k_asset, k_key
      FROM (SELECT DISTINCT s.address, s.asset
              FROM unnest(debits, credits, assets, wants) AS u(debit, credit, asset, wanted)
             CROSS JOIN LATERAL (VALUES (u.debit, u.asset), (u.credit, u.asset))
                   AS s(address, asset)
             WHERE u.wanted) k;
    t_store := array_fill(false, ARRAY[n]);
    t_debit := array_fill(NULL::bigint, ARRAY[n]);
    t_credit := array_fill(NULL::bigint, ARRAY[n]);
    t_asset := assets;
    t_amount := amounts;
    t_code := codes;
    t_expires := array_fill(NULL::timestamptz, ARRAY[n]);

    -- The assets' limits: max_amount caps what one transfer credits to an account that may
    -- not go negative (a holder); max_supply caps what an account that may go negative (a
    -- minting account: issuance, ...) has outstanding. Checked on the locked account rows,
    -- so concurrent mints cannot pass the cap together.
    SELECT array_agg(s.code), array_agg(s.max_amount), array_agg(s.max_supply)
      INTO s_code, s_max_amount, s_max_supply
      FROM tokens.assets s WHERE s.code = ANY (assets);

    -- Holds being resolved: immutable rows, read before locking their accounts.
    IF cardinality(want_holds) > 0 THEN
        SELECT coalesce(array_agg(p.id), '{}'), array_agg(p.kind), array_agg(p.result),
               array_agg(p.debit_account_id), array_agg(p.credit_account_id), array_agg(p.asset),
               array_agg(p.amount), array_agg(p.expires_at), array_agg(p.code)
          INTO h_id, h_kind, h_result, h_debit, h_credit, h_asset, h_amount, h_expires, h_code
          FROM tokens.transfers p WHERE p.id = ANY (want_holds);
        FOR hi IN 1..cardinality(h_id) LOOP
            IF h_result[hi] = 'ok' THEN
                hold_accounts := hold_accounts || h_debit[hi] || h_credit[hi];
            END IF;
        END LOOP;
    END IF;

    -- Lock every touched account in id order (A->B and B->A never deadlock). Missing accounts
    -- are created (insert-or-nothing, like Formance) and the lock is taken again.
    FOR attempt IN 1..2 LOOP
        IF cardinality(hold_accounts) = 0 THEN
            SELECT array_agg(l.id), array_agg(l.address || '|' || l.asset), array_agg(l.flags),
                   array_agg(l.debits_pending), array_agg(l.debits_posted),
                   array_agg(l.credits_pending), array_agg(l.credits_posted),
                   array_agg(l.daily_debits)
              INTO a_id, a_key, a_flags, a_dpend, a_dpost, a_cpend, a_cpost, a_daily
              FROM (SELECT a.* FROM tokens.accounts a
                    -- May also lock a cross pair (A's TON and B's VIBE for a two-asset
                    -- batch): harmless, and cheaper than matching pairs.
                    WHERE a.address = ANY (k_addr) AND a.asset = ANY (k_asset)
                    ORDER BY a.id FOR UPDATE) l;
        ELSE
            SELECT array_agg(l.id), array_agg(l.address || '|' || l.asset), array_agg(l.flags),
                   array_agg(l.debits_pending), array_agg(l.debits_posted),
                   array_agg(l.credits_pending), array_agg(l.credits_posted),
                   array_agg(l.daily_debits)
              INTO a_id, a_key, a_flags, a_dpend, a_dpost, a_cpend, a_cpost, a_daily
              FROM (SELECT a.* FROM tokens.accounts a
                    -- The ids as one array computed before any row is locked (migration
                    -- 0014_market): as a semi-join against a subquery, a row another
                    -- transaction changed while this one waited for it was dropped on the
                    -- recheck, and a hold's account went missing from the locked set.
                    WHERE a.id = ANY (ARRAY(SELECT b.id FROM tokens.accounts b
                                              JOIN unnest(k_addr, k_asset) w(address, asset)
                                                ON b.address = w.address
                                               AND b.asset = w.asset)
                                      || hold_accounts)
                    ORDER BY a.id FOR UPDATE) l;
        END IF;
        a_id := coalesce(a_id, '{}');
        a_key := coalesce(a_key, '{}');
        SELECT coalesce(jsonb_object_agg(k.key, k.pos), '{}') INTO a_pos
          FROM unnest(a_key) WITH ORDINALITY AS k(key, pos);
        -- Every wanted account locked? Not a count: the rows locked may include cross pairs
        -- (A's TON and B's VIBE) while A's VIBE is still missing, and need creating.
        EXIT WHEN attempt = 2 OR cardinality(k_key) = 0 OR a_pos ?& k_key;
        INSERT INTO tokens.accounts (address, asset, user_id, kind, flags)
        SELECT k.address, k.asset, k.user_id, ak.kind, ak.flags
          FROM (SELECT w.address, w.asset,
                       CASE WHEN w.address ~ tokens.user_address_pattern()
                            THEN substr(w.address, 6)::uuid END AS user_id,
                       CASE WHEN w.address ~ tokens.user_address_pattern()
                            THEN 'wallet'
                            WHEN w.address ~ '^system:[a-z_]+(#[0-9]{1,4})?$'
                            THEN split_part(substr(w.address, 8), '#', 1) END AS kind
                  FROM unnest(k_addr, k_asset) w(address, asset)) k
          JOIN tokens.account_kinds ak ON ak.kind = k.kind AND ak.per_user = (k.user_id IS NOT NULL)
          JOIN tokens.assets s ON s.code = k.asset
         WHERE k.user_id IS NULL OR EXISTS (SELECT FROM auth.users u WHERE u.id = k.user_id)
        ON CONFLICT DO NOTHING;
    END LOOP;
    a_dirty := array_fill(false, ARRAY[cardinality(a_id)]);
    IF cardinality(h_id) > 0 THEN
        SELECT jsonb_object_agg(k.id, k.pos) INTO a_ipos
          FROM unnest(a_id) WITH ORDINALITY AS k(id, pos);
        SELECT jsonb_object_agg(k.id, k.pos) INTO h_pos
          FROM unnest(h_id) WITH ORDINALITY AS k(id, pos);
    END IF;

    -- Resolutions already recorded, read under the account locks so concurrent post and void
    -- of one hold see each other.
    h_done := array_fill(NULL::text, ARRAY[cardinality(h_id)]);
    IF cardinality(h_id) > 0 THEN
        SELECT array_agg(t.pending_id), array_agg(t.kind) INTO r_pid, r_kind
          FROM tokens.transfers t WHERE t.pending_id = ANY (h_id) AND t.result = 'ok';
        FOR k IN 1..coalesce(cardinality(r_pid), 0) LOOP
            h_done[(h_pos->>r_pid[k]::text)::integer] := r_kind[k];
        END LOOP;
    END IF;

    -- Apply in order, in memory; a later transfer sees the earlier ones' effects.
    FOR i IN 1..n LOOP
        IF i = 1 OR grps[i] <> grps[i - 1] THEN
            g_start := i;
            u_pos := '{}'; u_dpend := '{}'; u_dpost := '{}'; u_cpend := '{}'; u_cpost := '{}';
            u_daily := '{}'; u_dirty := '{}'; u_hold := '{}'; u_done := '{}';
        END IF;
        CONTINUE WHEN results[i] IS NOT NULL;
        t_store[i] := true;
        t_code[i] := coalesce(codes[i], '');
        -- The two accounts the transfer may change (a hold's, for a resolution), saved to the
        -- group's undo log before anything changes them.
        IF kinds[i] IN ('single', 'pending') THEN
            di := (a_pos->>(debits[i] || '|' || assets[i]))::integer;
            ci := (a_pos->>(credits[i] || '|' || assets[i]))::integer;
        ELSE
            hi := (h_pos->>pids[i]::text)::integer;
            di := (a_ipos->>h_debit[hi]::text)::integer;
            ci := (a_ipos->>h_credit[hi]::text)::integer;
        END IF;
        IF di IS NOT NULL AND ci IS NOT NULL THEN
            FOREACH k IN ARRAY ARRAY[di, ci] LOOP
                u_pos := array_append(u_pos, k);
                u_dpend := array_append(u_dpend, a_dpend[k]);
                u_dpost := array_append(u_dpost, a_dpost[k]);
                u_cpend := array_append(u_cpend, a_cpend[k]);
                u_cpost := array_append(u_cpost, a_cpost[k]);
                u_daily := array_append(u_daily, a_daily[k]);
                u_dirty := array_append(u_dirty, a_dirty[k]);
            END LOOP;
        END IF;
        IF kinds[i] IN ('single', 'pending') THEN
            t_debit[i] := a_id[di];
            t_credit[i] := a_id[ci];
            amt := amounts[i];
            si := array_position(s_code, assets[i]);
            IF di IS NULL OR ci IS NULL THEN
                results[i] := 'account_not_found';
            ELSIF a_flags[ci] & 1 = 1 AND amt > s_max_amount[si] THEN
                results[i] := 'amount_too_large';
            ELSIF a_flags[di] & 1 = 1 AND a_dpend[di] + a_dpost[di] + amt > a_cpost[di] THEN
                results[i] := 'insufficient_funds';
            ELSIF a_flags[di] & 1 = 0
                  AND a_dpend[di] + a_dpost[di] - a_cpost[di] + amt > s_max_supply[si] THEN
                results[i] := 'supply_exceeded';
            ELSIF greatest(a_dpend[di], a_dpost[di], a_cpend[ci], a_cpost[ci])
                  > max_total - amt THEN
                -- Unreachable within the limits (README "Ledger"); an account filled before
                -- them gets an answer instead of a numeric overflow failing the whole batch.
                results[i] := 'account_total_overflow';
            ELSIF limits[i] IS NOT NULL THEN
                IF a_daily[di]->>'day' IS DISTINCT FROM today THEN
                    a_daily[di] := jsonb_build_object('day', today);
                END IF;
                spent := coalesce((a_daily[di]->>lcodes[i])::numeric, 0);
                IF spent + amt > limits[i] THEN
                    results[i] := 'daily_limit_exceeded';
                ELSE
                    a_daily[di] := a_daily[di]
                                   || jsonb_build_object(lcodes[i], (spent + amt)::text);
                END IF;
            END IF;
            IF results[i] IS NULL THEN
                a_dirty[di] := true;
                a_dirty[ci] := true;
                IF kinds[i] = 'single' THEN
                    a_dpost[di] := a_dpost[di] + amt;
                    a_cpost[ci] := a_cpost[ci] + amt;
                ELSE
                    a_dpend[di] := a_dpend[di] + amt;
                    a_cpend[ci] := a_cpend[ci] + amt;
                    IF timeouts[i] IS NOT NULL THEN
                        t_expires[i] := now() + make_interval(secs => timeouts[i]);
                    END IF;
                END IF;
            END IF;
        ELSE
            t_asset[i] := coalesce(assets[i], h_asset[hi], '');
            IF hi IS NULL OR h_result[hi] <> 'ok' THEN
                results[i] := 'pending_transfer_not_found';
            ELSIF h_kind[hi] <> 'pending' THEN
                results[i] := 'pending_transfer_not_pending';
            ELSE
                t_debit[i] := h_debit[hi];
                t_credit[i] := h_credit[hi];
                t_code[i] := coalesce(codes[i], h_code[hi]);
                IF kinds[i] = 'post' THEN
                    t_amount[i] := coalesce(amounts[i], h_amount[hi]);
                ELSE
                    t_amount[i] := h_amount[hi];
                END IF;
                IF h_done[hi] = 'post' THEN
                    results[i] := 'pending_transfer_already_posted';
                ELSIF h_done[hi] = 'void' THEN
                    results[i] := 'pending_transfer_already_voided';
                ELSIF h_done[hi] = 'expire' THEN
                    results[i] := 'pending_transfer_expired';
                ELSIF assets[i] IS NOT NULL AND assets[i] <> h_asset[hi] THEN
                    results[i] := 'assets_differ';
                ELSIF kinds[i] = 'expire' AND (h_expires[hi] IS NULL OR h_expires[hi] > now()) THEN
                    results[i] := 'pending_transfer_not_expired';
                ELSIF kinds[i] <> 'expire' AND h_expires[hi] <= now() THEN
                    results[i] := 'pending_transfer_expired';
                ELSIF t_amount[i] > h_amount[hi] THEN
                    results[i] := 'exceeds_pending_transfer_amount';
                ELSIF kinds[i] = 'post'
                      AND greatest(a_dpost[di], a_cpost[ci])
                          > max_total - t_amount[i] THEN
                    results[i] := 'account_total_overflow';
                END IF;
            END IF;
            IF results[i] IS NULL THEN
                u_hold := array_append(u_hold, hi);
                u_done := array_append(u_done, h_done[hi]);
                h_done[hi] := kinds[i];
                a_dirty[di] := true;
                a_dirty[ci] := true;
                a_dpend[di] := a_dpend[di] - h_amount[hi];
                a_cpend[ci] := a_cpend[ci] - h_amount[hi];
                IF kinds[i] = 'post' THEN
                    a_dpost[di] := a_dpost[di] + t_amount[i];
                    a_cpost[ci] := a_cpost[ci] + t_amount[i];
                END IF;
            END IF;
        END IF;
        IF results[i] IS NULL THEN
            results[i] := 'ok';
        ELSE
            -- Undo the group's earlier transfers, newest change first; its later ones fail
            -- unapplied.
            FOR k IN REVERSE cardinality(u_pos)..1 LOOP
                a_dpend[u_pos[k]] := u_dpend[k];
                a_dpost[u_pos[k]] := u_dpost[k];
                a_cpend[u_pos[k]] := u_cpend[k];
                a_cpost[u_pos[k]] := u_cpost[k];
                a_daily[u_pos[k]] := u_daily[k];
                a_dirty[u_pos[k]] := u_dirty[k];
            END LOOP;
            FOR k IN REVERSE cardinality(u_hold)..1 LOOP
                h_done[u_hold[k]] := u_done[k];
            END LOOP;
            FOR k IN g_start..n LOOP
                EXIT WHEN grps[k] <> grps[i];
                IF k <> i AND (results[k] IS NULL OR results[k] = 'ok') THEN
                    results[k] := 'linked_event_failed';
                    t_store[k] := true;
                    t_code[k] := coalesce(t_code[k], codes[k], '');
                END IF;
            END LOOP;
        END IF;
    END LOOP;

    IF array_position(a_dirty, true) IS NOT NULL THEN
        UPDATE tokens.accounts a
           SET debits_pending = u.dpend, debits_posted = u.dpost,
               credits_pending = u.cpend, credits_posted = u.cpost, daily_debits = u.daily
          FROM unnest(a_id, a_dpend, a_dpost, a_cpend, a_cpost, a_daily, a_dirty)
               AS u(id, dpend, dpost, cpend, cpost, daily, dirty)
         WHERE a.id = u.id AND u.dirty;
    END IF;

    INSERT INTO tokens.transfers (id, kind, result, debit_account_id, credit_account_id, asset,
                                  amount, code, metadata, pending_id, expires_at, fingerprint)
    SELECT u.id, u.kind, u.result, u.debit, u.credit, coalesce(u.asset, ''), u.amount, u.code,
           u.meta, u.pid, u.expires, u.fp
      FROM unnest(ids, kinds, results, t_debit, t_credit, t_asset, t_amount, t_code, metas, pids,
                  t_expires, fps, t_store)
           AS u(id, kind, result, debit, credit, asset, amount, code, meta, pid, expires, fp, store)
     WHERE u.store
    ON CONFLICT (id) DO NOTHING;
    GET DIAGNOSTICS stored = ROW_COUNT;
    IF stored <> cardinality(array_positions(t_store, true)) THEN
        -- Another transaction claimed one of these ids with different fields meanwhile;
        -- the caller retries and then sees that transfer's outcome.
        RAISE EXCEPTION 'transfer id claimed concurrently' USING ERRCODE = '40001';
    END IF;
    RETURN results;
END
$function$;
"""


# A frozen copy of db/sql/tokens/credit_purchases.sql as of this migration.
CREDIT_PURCHASES = r"""
-- tokens.credit_purchases: Stars payments credited, any number in one statement.
-- The whole current definition; migrations apply frozen copies of it (0024_batch_scaling).
--
-- Member i is one `successful_payment` (p_*[i]); its answer is element i of the result:
--   {"result": "ok", "purchase_id", "vibe", "settled", "rewards"}   credited now
--   {"result": "exists", "purchase_id", "vibe"}                     a replay of its charge id
--   {"result": <the ledger's failure code>}                          refused; nothing of it kept
-- A member credited now gets, in this transaction: its purchase row, the settlement of what
-- earlier forced refunds left owing (oldest debt first), a reward hold for each ancestor
-- within the levels (floor(vibe × bps / 10 000) VIBE units; a banned or deleted ancestor keeps
-- their level and is paid nothing), the reward rows, the referrers' totals and the
-- shared-wallet rule; the referrers' open apps learn of their rewards from the holds' `transfer`
-- events, which the ledger writes. The money of each member is one linked group in one
-- unlinked ledger batch: one member's refusal never touches another's credit.
-- Rows are locked in the order every writer of them uses: purchases by charge id, debts by
-- user, totals by (level, referrer), then the ledger's accounts. The ledger goes last: its
-- account locks are the ones concurrent purchases queue on (a shared shard, a referrer two
-- buyers share), and the reward rows and flags written before it no longer extend
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

            -- No ON CONFLICT: a reward's id derives from its purchase's charge id, and only the
            -- statement that inserted that purchase gets here (its conflict check cost a probe
            -- of two unique indexes per reward).
            INSERT INTO referrals.rewards (id, source, level, referrer_id, referee_id, amount,
                                           available_at)
            SELECT w.id, 'stars:' || p_charges[w.m], w.level, w.referrer, p_users[w.m],
                   w.amount, now() + make_interval(days => p_hold_days)
              FROM unnest(w_member, w_level, w_referrer, w_amount, w_id)
                   AS w(m, level, referrer, amount, id)
             WHERE fresh[w.m];

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
