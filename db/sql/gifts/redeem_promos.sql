-- gifts.redeem_promos: concurrent redemptions of one code, one statement and one commit.
-- The whole current definition; migration 0017_market_safety applies a frozen copy of it.
--
CREATE OR REPLACE FUNCTION gifts.redeem_promos(p_hash bytea, p_users uuid[])
 RETURNS jsonb[]
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    members integer[];
    m integer;
    answers jsonb[] := array_fill(NULL::jsonb, ARRAY[cardinality(p_users)]);
    err_message text;
    err_hint text;
BEGIN
    -- Members in the order of their wallet rows (new wallets first), so that the wallets this
    -- transaction locks one member after the other are taken in the ledger's own lock order.
    SELECT array_agg(x.i::integer ORDER BY a.id NULLS FIRST, x.i) INTO members
      FROM unnest(p_users) WITH ORDINALITY AS x(u, i)
      LEFT JOIN gifts.promo_codes c ON c.code_hash = p_hash
      LEFT JOIN tokens.accounts a ON a.address = 'user:' || x.u AND a.asset = c.asset;
    FOREACH m IN ARRAY coalesce(members, '{}') LOOP
        -- Each member in its own subtransaction: a refusal undoes that member alone.
        BEGIN
            answers[m] := gifts.redeem_promo(p_hash, p_users[m]);
        EXCEPTION
            WHEN raise_exception THEN
                GET STACKED DIAGNOSTICS err_message = MESSAGE_TEXT, err_hint = PG_EXCEPTION_HINT;
                answers[m] := jsonb_build_object(
                    'result', 'error', 'message', err_message, 'hint', err_hint);
            WHEN deadlock_detected OR serialization_failure THEN
                -- Undone, and its locks released: the caller redeems it again on its own.
                answers[m] := jsonb_build_object('result', 'retry');
        END;
    END LOOP;
    RETURN answers;
END
$function$;
