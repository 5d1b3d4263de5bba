-- tokens.transfer_events: the statement-level AFTER INSERT trigger on tokens.transfers that
-- writes a `transfer` event (in / out) into ops.events for every user account an applied
-- transfer touched, in the same transaction. One INSERT ... SELECT per statement
-- (tokens.create_transfers writes its batch with one statement), over the transition table
-- of the rows just inserted. It does not NOTIFY: a notifying transaction holds PostgreSQL's
-- notify-queue lock through its commit, which halved the ledger's single-transfer
-- statements at 16 clients (bench/realtime/trigger.py); the listeners poll the table instead.
-- The whole current definition; migrations apply frozen copies of it (0010_realtime).
--
CREATE OR REPLACE FUNCTION tokens.transfer_events()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    INSERT INTO ops.events (user_id, channel, type, data)
    SELECT a.user_id, 'user', 'transfer',
           jsonb_build_object('transfer_id', t.id, 'kind', t.kind, 'direction', s.direction,
                              'asset', t.asset, 'amount', t.amount::text, 'code', t.code)
      FROM new_transfers t
     CROSS JOIN LATERAL (VALUES ('out', t.debit_account_id), ('in', t.credit_account_id))
           AS s(direction, account_id)
      JOIN tokens.accounts a ON a.id = s.account_id
     WHERE t.result = 'ok' AND a.user_id IS NOT NULL;
    RETURN NULL;
END
$function$;
