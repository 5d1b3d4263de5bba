-- ops.next_event_id: the default of ops.events.id. It makes sure the inserting transaction
-- has its xid before it draws the id, so that an id drawn before a listener's snapshot always
-- belongs to a transaction that snapshot lists as running or already finished: the listener
-- proves a missing id will never arrive once every transaction its snapshot listed has ended
-- (services/realtime/listener.py). An identity column draws the id before the row's xid.
-- SECURITY DEFINER: the sequence belongs to the owner, and inserters need no right on it.
-- The whole current definition; migrations apply frozen copies of it (0016_realtime_more).
--
CREATE OR REPLACE FUNCTION ops.next_event_id()
 RETURNS bigint
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN nextval('ops.events_id_seq');
END
$function$;
