"""Promo redemptions keyed on their cause: a Telegram update delivered again redeems once.

Revision ID: 0023_promo_causes
Revises: 0022_idempotency_purge
Create Date: 2026-12-04

- `gifts.redeem_promo(code_hash, user_id, cause)` and `gifts.redeem_promos(code_hash,
  user_ids, causes)`: with a cause (the bot's chat and message id), the credit's transfer id
  derives from it instead of the user's ordinal. The same cause again (Telegram redelivers an
  update our process took but did not finish acknowledging) answers the first redemption
  instead of redeeming the code's next use for the user; before, a code allowing several uses
  per user paid twice for one `/redeem` message.
- `gifts.promo_redeemed(transfer_id)`: that first answer, read back.
"""

from __future__ import annotations

from importlib import import_module

from migrations.sql import run_script

revision = "0023_promo_causes"
down_revision = "0022_idempotency_purge"
branch_labels = None
depends_on = None

# The signatures change: the old functions go, or a two-argument call would be ambiguous.
_DROP_OLD = """
DROP FUNCTION gifts.redeem_promo(bytea, uuid);
DROP FUNCTION gifts.redeem_promos(bytea, uuid[]);
"""

_GRANTS = """
REVOKE ALL ON FUNCTION gifts.promo_redeemed(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gifts.promo_redeemed(uuid) TO gv_service;
REVOKE ALL ON FUNCTION gifts.redeem_promo(bytea, uuid, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gifts.redeem_promo(bytea, uuid, text) TO gv_service;
REVOKE ALL ON FUNCTION gifts.redeem_promos(bytea, uuid[], text[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gifts.redeem_promos(bytea, uuid[], text[]) TO gv_service;
"""

_DOWN = """
DROP FUNCTION gifts.redeem_promo(bytea, uuid, text);
DROP FUNCTION gifts.redeem_promos(bytea, uuid[], text[]);
DROP FUNCTION gifts.promo_redeemed(uuid);
"""

_OLD_GRANTS = """
REVOKE ALL ON FUNCTION gifts.redeem_promo(bytea, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gifts.redeem_promo(bytea, uuid) TO gv_service;
REVOKE ALL ON FUNCTION gifts.redeem_promos(bytea, uuid[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION gifts.redeem_promos(bytea, uuid[]) TO gv_service;
"""


def upgrade() -> None:
    run_script(_DROP_OLD)
    run_script(PROMO_REDEEMED)
    run_script(REDEEM_PROMO)
    run_script(REDEEM_PROMOS)
    run_script(_GRANTS)


def downgrade() -> None:
    run_script(_DOWN)
    before = import_module("migrations.versions.0017_market_safety")
    run_script(before.REDEEM_PROMO)
    run_script(before.REDEEM_PROMOS)
    run_script(_OLD_GRANTS)


# A frozen copy of db/sql/gifts/promo_redeemed.sql as of this migration.
PROMO_REDEEMED = r"""
-- gifts.promo_redeemed: the answer a redemption gave, by its credit's transfer id; NULL if
-- there is none. A redemption keyed on its cause (the bot's chat and message) answers with it
-- again when Telegram delivers the update again (`gifts.redeem_promo`, `gifts.redeem_promos`).
-- The whole current definition; migrations apply frozen copies of it (0023_promo_causes).
--
CREATE OR REPLACE FUNCTION gifts.promo_redeemed(p_transfer uuid)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT jsonb_build_object(
               'result', 'ok', 'promo_id', c.id, 'code', c.code, 'asset', c.asset,
               'decimals', a.decimals, 'amount', r.amount::text, 'transfer_id', r.transfer_id,
               'slot', r.slot, 'use', r.use_number)
      FROM gifts.promo_redemptions r
      JOIN gifts.promo_codes c ON c.id = r.promo_id
      JOIN tokens.assets a ON a.code = c.asset
     WHERE r.transfer_id = p_transfer AND r.use_number IS NOT NULL
$function$;
"""


# A frozen copy of db/sql/gifts/redeem_promo.sql as of this migration.
REDEEM_PROMO = r"""
-- gifts.redeem_promo: one promo redemption, decided and paid in one statement.
-- `p_cause` (the bot's chat and message): the credit's id derives from it instead of the
-- user's ordinal, so the same cause redeems once and answers the same again.
-- The whole current definition; migrations apply frozen copies of it (0023_promo_causes).
--
CREATE OR REPLACE FUNCTION gifts.redeem_promo(p_hash bytea, p_user uuid, p_cause text DEFAULT NULL::text)
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
    done jsonb;
    cause_id uuid;
    used integer;
    started timestamptz := clock_timestamp();
BEGIN
    SELECT c.id, c.code, c.asset, a.decimals, c.amount, c.per_user, c.new_users_only,
           c.min_account_age, c.created_at, c.shard,
           c.active AND (c.expires_at IS NULL OR c.expires_at > now()) AS open
      INTO p
      FROM gifts.promo_codes c JOIN tokens.assets a ON a.code = c.asset
     WHERE c.code_hash = p_hash;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;
    -- Its cause redeemed already (an update delivered again): that answer, even if the code
    -- closed or the user's uses ran out since.
    IF p_cause IS NOT NULL THEN
        cause_id := md5('promo_cause:' || p.id || ':' || p_user || ':' || p_cause)::uuid;
        done := gifts.promo_redeemed(cause_id);
        IF done IS NOT NULL THEN
            RETURN done;
        END IF;
    END IF;
    IF NOT p.open THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;
    SELECT x.banned_at, x.created_at INTO u FROM auth.users x WHERE x.id = p_user;
    IF NOT FOUND OR u.banned_at IS NOT NULL
       OR (p.new_users_only AND u.created_at <= p.created_at)
       OR (p.min_account_age > 0
           AND now() - u.created_at < make_interval(secs => p.min_account_age)) THEN
        RETURN jsonb_build_object('result', 'unavailable');
    END IF;
    -- The user's ordinal first: a concurrent redemption by the same user queues here, before
    -- either holds a slot, and the later one finds the ordinal taken. A cause's (another
    -- message of the user) then counts again and takes the next ordinal, within per_user:
    -- each time round, a redemption committed meanwhile, so at most per_user times. Uses are
    -- counted; the ordinal follows the highest taken (a batch may leave a gap below it).
    LOOP
        SELECT count(*)::integer, coalesce(max(r.n), 0) + 1 INTO used, ord
          FROM gifts.promo_redemptions r WHERE r.promo_id = p.id AND r.user_id = p_user;
        IF used >= p.per_user THEN
            RETURN jsonb_build_object('result', 'unavailable');
        END IF;
        credit_id := coalesce(cause_id,
                              md5('promo:' || p.id || ':' || p_user || ':' || ord)::uuid);
        INSERT INTO gifts.promo_redemptions (promo_id, user_id, n, amount, transfer_id)
        VALUES (p.id, p_user, ord, p.amount, credit_id)
        -- Every unique key an arbiter (the ordinal's, the transfer id's: the same key twice):
        -- with one as the target, two inserts of one key could wait on each other's other one.
        ON CONFLICT DO NOTHING;
        EXIT WHEN FOUND;
        -- Without a cause, a concurrent redemption took the ordinal: nothing redeemed here.
        IF p_cause IS NULL THEN
            RETURN jsonb_build_object('result', 'unavailable');
        END IF;
        -- The same cause redeeming at once waited for the other's commit: its answer.
        done := gifts.promo_redeemed(credit_id);
        IF done IS NOT NULL THEN
            RETURN done;
        END IF;
    END LOOP;

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
$function$;
"""  # noqa: E501 - the signature, as pg_get_functiondef prints it


# A frozen copy of db/sql/gifts/redeem_promos.sql as of this migration.
REDEEM_PROMOS = r"""
-- gifts.redeem_promos: concurrent redemptions of one code, decided and paid in one statement.
-- `p_causes[i]` (the bot's chat and message, or NULL): member i's credit id derives from it, as
-- in `gifts.redeem_promo`, so a cause redeems once and answers the same again. A user's cause
-- appears once in a batch, and in one statement at a time (the batcher keeps another delivery
-- for a later statement, which answers it).
-- The whole current definition; migration 0023_promo_causes applies a frozen copy of it.
-- No sequential scans: planned while the redemptions table was small, the per-user count
-- scanned all of it, and each batch grew slower as the code was used.
--
CREATE OR REPLACE FUNCTION gifts.redeem_promos(p_hash bytea, p_users uuid[], p_causes text[] DEFAULT NULL::text[])
 RETURNS jsonb[]
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
 SET enable_seqscan TO 'off'
AS $function$
DECLARE
    p record;
    u record;
    s record;
    q record;
    m integer;
    k integer;
    total integer := cardinality(p_users);
    answers jsonb[] := array_fill(NULL::jsonb, ARRAY[cardinality(p_users)]);
    ords integer[] := array_fill(NULL::integer, ARRAY[cardinality(p_users)]);
    credit_ids uuid[] := array_fill(NULL::uuid, ARRAY[cardinality(p_users)]);
    eligible integer[] := '{}';
    winners integer[] := '{}';
    left_over numeric;
    served integer;
    first_use integer;
    shard integer;
    slot_key text;
    batch jsonb;
    results text[];
    failure text;
    done jsonb;
    prev_user uuid;
    same integer := 0;
    started timestamptz := clock_timestamp();
BEGIN
    IF (SELECT count(DISTINCT (x.u, x.c)) <> count(x.c)
          FROM unnest(p_users, p_causes) AS x(u, c) WHERE x.c IS NOT NULL) THEN
        RAISE EXCEPTION 'a cause appears twice in one batch' USING ERRCODE = '22023';
    END IF;
    SELECT c.id, c.code, c.asset, a.decimals, c.amount, c.per_user, c.new_users_only,
           c.min_account_age, c.created_at, c.shard,
           c.active AND (c.expires_at IS NULL OR c.expires_at > now()) AS open
      INTO p
      FROM gifts.promo_codes c JOIN tokens.assets a ON a.code = c.asset
     WHERE c.code_hash = p_hash;
    IF NOT FOUND THEN
        RETURN array_fill(jsonb_build_object('result', 'unavailable'), ARRAY[total]);
    END IF;
    -- Members whose cause redeemed already (an update delivered again): that answer, even if
    -- the code closed or the user's uses ran out since.
    FOR m IN 1 .. total LOOP
        CONTINUE WHEN p_causes[m] IS NULL;
        credit_ids[m] := md5('promo_cause:' || p.id || ':' || p_users[m] || ':'
                             || p_causes[m])::uuid;
        answers[m] := gifts.promo_redeemed(credit_ids[m]);
    END LOOP;
    IF NOT p.open THEN
        FOR m IN 1 .. total LOOP
            answers[m] := coalesce(answers[m], jsonb_build_object('result', 'unavailable'));
        END LOOP;
        RETURN answers;
    END IF;

    -- Each member's rules and next ordinal, read in one query in user id order (a user twice
    -- in the batch counts their earlier place). Nothing is written yet.
    FOR u IN
        SELECT x.i::integer AS m, x.id,
               usr.id IS NULL OR usr.banned_at IS NOT NULL
               OR (p.new_users_only AND usr.created_at <= p.created_at)
               OR (p.min_account_age > 0
                   AND now() - usr.created_at < make_interval(secs => p.min_account_age))
                   AS refused,
               r.done, r.top
          FROM unnest(p_users) WITH ORDINALITY AS x(id, i)
          LEFT JOIN auth.users usr ON usr.id = x.id
         CROSS JOIN LATERAL (SELECT count(*)::integer AS done, coalesce(max(d.n), 0) AS top
                               FROM gifts.promo_redemptions d
                              WHERE d.promo_id = p.id AND d.user_id = x.id) r
         WHERE answers[x.i] IS NULL
         ORDER BY x.id, x.i
    LOOP
        m := u.m;
        -- The user's uses are counted; their ordinals follow the highest taken, which a
        -- cause's redemption answered from another statement may leave a gap below.
        IF u.id IS DISTINCT FROM prev_user THEN
            prev_user := u.id;
            same := 0;
        END IF;
        IF u.refused OR u.done + same >= p.per_user THEN
            answers[m] := jsonb_build_object('result', 'unavailable');
            CONTINUE;
        END IF;
        ords[m] := u.top + same + 1;
        same := same + 1;
        eligible := eligible || m;
    END LOOP;
    IF cardinality(eligible) = 0 THEN
        RETURN answers;
    END IF;

    -- The decision: as many uses as the eligible members, on ONE free slot (SKIP LOCKED; a
    -- transaction holds one slot at most, so slots cannot deadlock). Members beyond what the
    -- slot has left are answered `retry`: the caller asks again, in another statement.
    LOOP
        SELECT f.slot, least(cardinality(eligible), f.max_uses - f.used,
                             floor((f.budget - f.paid) / p.amount)::integer) AS k
          INTO q
          FROM gifts.promo_slots f
         WHERE f.promo_id = p.id AND f.active AND f.used < f.max_uses
           AND f.paid + p.amount <= f.budget
         ORDER BY random() LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF FOUND THEN
            UPDATE gifts.promo_slots t SET used = t.used + q.k, paid = t.paid + q.k * p.amount
             WHERE t.promo_id = p.id AND t.slot = q.slot
            RETURNING t.slot, t.used, q.k AS k INTO s;
        END IF;
        EXIT WHEN FOUND;
        IF NOT EXISTS (SELECT FROM gifts.promo_slots f
                        WHERE f.promo_id = p.id AND f.active AND f.used < f.max_uses
                          AND f.paid + p.amount <= f.budget)
           OR clock_timestamp() - started > interval '10 seconds' THEN
            FOREACH m IN ARRAY eligible LOOP
                answers[m] := jsonb_build_object('result', 'unavailable');
            END LOOP;
            RETURN answers;
        END IF;
        PERFORM pg_sleep(0.001);
    END LOOP;

    -- The ordinals, in user id order (two batches sharing users wait for each other in one
    -- order only): a concurrent redemption of the same ordinal makes the member unavailable.
    first_use := s.used - s.k + 1;
    served := 0;
    FOR k IN 1 .. cardinality(eligible) LOOP
        m := eligible[k];
        IF served = s.k THEN
            answers[m] := jsonb_build_object('result', 'retry');
            CONTINUE;
        END IF;
        credit_ids[m] := coalesce(
            credit_ids[m], md5('promo:' || p.id || ':' || p_users[m] || ':' || ords[m])::uuid);
        INSERT INTO gifts.promo_redemptions (promo_id, user_id, n, amount, transfer_id, slot,
                                             use_number)
        VALUES (p.id, p_users[m], ords[m], p.amount, credit_ids[m], s.slot, first_use + served)
        -- Every unique key an arbiter (the ordinal's, the transfer id's: the same key twice):
        -- with one as the target, two inserts of one key could wait on each other's other one.
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            -- Without a cause, a concurrent redemption took the ordinal. With one: the same
            -- cause redeemed at once in another statement (its answer), or another message of
            -- the user took the ordinal (counted again in the next statement).
            answers[m] := CASE
                WHEN p_causes[m] IS NULL THEN jsonb_build_object('result', 'unavailable')
                ELSE coalesce(gifts.promo_redeemed(credit_ids[m]),
                              jsonb_build_object('result', 'retry')) END;
            credit_ids[m] := NULL;
            CONTINUE;
        END IF;
        served := served + 1;
        winners := winners || m;
    END LOOP;
    IF served < s.k THEN
        -- Uses taken for members who lost their ordinal meanwhile go back to the slot.
        UPDATE gifts.promo_slots t
           SET used = t.used - (s.k - served), paid = t.paid - (s.k - served) * p.amount
         WHERE t.promo_id = p.id AND t.slot = s.slot
        RETURNING t.used INTO s.used;
    END IF;
    IF served = 0 THEN
        RETURN answers;
    END IF;
    SELECT t.budget - t.paid INTO left_over
      FROM gifts.promo_slots t WHERE t.promo_id = p.id AND t.slot = s.slot;

    -- One ledger batch: void the slot's hold, a credit per served member, hold what is left
    -- (named, like every budget hold, by the slot's use count after it).
    shard := (p.shard + s.slot) % 256;
    slot_key := p.id || ':' || s.slot || ':';
    batch := jsonb_build_array(jsonb_build_object(
        'id', md5('promo_budget_void:' || slot_key || (first_use - 1))::uuid,
        'kind', 'void',
        'pending_id', md5('promo_budget:' || slot_key || (first_use - 1))::uuid));
    FOR k IN 1 .. served LOOP
        m := winners[k];
        batch := batch || jsonb_build_object(
            'id', credit_ids[m], 'kind', 'single', 'debit', 'system:promo#' || shard,
            'credit', 'user:' || p_users[m], 'asset', p.asset, 'amount', p.amount::text,
            'code', 'promo', 'metadata', jsonb_build_object('promo_id', p.id, 'code', p.code));
        answers[m] := jsonb_build_object(
            'result', 'ok', 'promo_id', p.id, 'code', p.code, 'asset', p.asset,
            'decimals', p.decimals, 'amount', p.amount::text, 'transfer_id', credit_ids[m],
            'slot', s.slot, 'use', first_use + k - 1);
    END LOOP;
    IF left_over > 0 THEN
        batch := batch || jsonb_build_object(
            'id', md5('promo_budget:' || slot_key || s.used)::uuid,
            'kind', 'pending', 'debit', 'system:promo#' || shard,
            'credit', 'system:escrow#' || shard, 'asset', p.asset, 'amount', left_over::text,
            'code', 'promo_budget', 'metadata', jsonb_build_object('promo_id', p.id));
    END IF;
    results := tokens.create_transfers(batch, true);
    SELECT r INTO failure FROM unnest(results) r
     WHERE r NOT IN ('ok', 'exists', 'linked_event_failed') LIMIT 1;
    IF failure IS NOT NULL THEN
        -- The whole statement is undone; the caller redeems each member on its own.
        RAISE EXCEPTION '%', failure USING ERRCODE = 'P0001', HINT = 'ledger';
    END IF;
    RETURN answers;
END
$function$;
"""  # noqa: E501 - the signature, as pg_get_functiondef prints it
