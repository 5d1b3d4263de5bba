-- auth.notify_user_changed: tells every listening process that a user's row changed.
-- The whole current definition; migrations apply frozen copies of it (0009_identity_cache).
--
-- A row trigger after UPDATE or DELETE on auth.users: `pg_notify('gv_identity', telegram_id)`,
-- delivered at commit, so each process evicts the user from its identity cache
-- (services/users/cache.py) once the change is visible, and a ban or a profile change holds
-- in every instance within the delivery time. Notifications with the same payload in one
-- transaction are sent once. Not SECURITY DEFINER: pg_notify needs no privilege, and
-- PostgreSQL checks EXECUTE on a trigger function only when the trigger is created.
--
CREATE OR REPLACE FUNCTION auth.notify_user_changed()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_notify('gv_identity', OLD.telegram_id::text);
    RETURN NULL;
END
$function$;
