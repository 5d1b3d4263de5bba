-- ops.enqueue: the one writer of outbox rows.
-- The whole current definition; migrations apply frozen copies of it (0008_use_cases).
--
-- Takes a jsonb array of messages ({chat_id, user_id, template, params, reply_markup,
-- dedup_key}; other keys are ignored), so a statement can enqueue what it decided in the same
-- round trip: the ledger statement its recipient's notice, a batch of sends the notices of the
-- groups that applied (`SELECT ... FROM r, ops.enqueue(...)`). NULL or [] enqueues nothing.
-- A message whose dedup_key is already queued is skipped (a replayed cause notifies once);
-- no conflict target: the only other unique column is the id, drawn fresh.
-- Returns how many rows it added. SECURITY INVOKER: the caller's rights and RLS apply.
--
CREATE OR REPLACE FUNCTION ops.enqueue(messages jsonb)
 RETURNS integer
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    added integer;
BEGIN
    INSERT INTO ops.outbox (chat_id, user_id, template, params, reply_markup, dedup_key)
    SELECT m.chat_id, m.user_id, m.template, coalesce(m.params, '{}'::jsonb), m.reply_markup,
           m.dedup_key
      FROM jsonb_to_recordset(coalesce(messages, '[]'::jsonb))
           AS m(chat_id bigint, user_id uuid, template text, params jsonb, reply_markup jsonb,
                dedup_key text)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END
$function$
