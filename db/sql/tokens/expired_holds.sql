-- tokens.expired_holds: the ids of pending transfers past their timeout and not yet resolved,
-- oldest first (services/ledger/tasks.py voids them).
-- The whole current definition; migrations apply frozen copies of it (0002_ledger; its
-- search_path is 0005_least_privilege's).
--
CREATE OR REPLACE FUNCTION tokens.expired_holds(max_count integer)
 RETURNS SETOF uuid
 LANGUAGE sql
 STABLE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
    SELECT p.id FROM tokens.transfers p
     WHERE p.kind = 'pending' AND p.result = 'ok' AND p.expires_at <= now()
       AND NOT EXISTS (SELECT FROM tokens.transfers r WHERE r.pending_id = p.id AND r.result = 'ok')
     ORDER BY p.expires_at
     LIMIT max_count
$function$;
