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
