-- tokens.user_address_pattern: the shape of a user account's address, `user:<uuid>`.
-- The whole current definition; migrations apply frozen copies of it (0002_ledger).
-- It sets no search_path: it refers to nothing, and a SET option would keep the planner from
-- inlining it.
--
CREATE OR REPLACE FUNCTION tokens.user_address_pattern()
 RETURNS text
 LANGUAGE sql
 IMMUTABLE PARALLEL SAFE
AS $function$ SELECT '^user:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' $function$;
