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
