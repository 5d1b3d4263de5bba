-- ops.next_event_id: the default of ops.events.id. It makes sure the inserting transaction
-- has its xid before it draws the id, so that an id drawn before a listener's snapshot always
-- belongs to a transaction that snapshot lists as running or already finished: the listener
-- proves a missing id will never arrive once every transaction its snapshot listed has ended
-- (services/realtime/listener.py). An identity column draws the id before the row's xid.
-- One SQL expression, neither SECURITY DEFINER nor SET, so the planner inlines it into the
-- INSERT: as a plpgsql definer function it cost a call with its own settings and a query per
-- event row (a Stars purchase writes 18). The CASE takes the xid first, then draws. Inserters
-- hold USAGE on the sequence (migration 0020_purchase_rows); the names are schema-qualified.
-- The whole current definition; migrations apply frozen copies of it (0020_purchase_rows).
--
CREATE OR REPLACE FUNCTION ops.next_event_id()
 RETURNS bigint
 LANGUAGE sql
AS $function$
    SELECT CASE WHEN pg_catalog.pg_current_xact_id() IS NOT NULL
                THEN pg_catalog.nextval('ops.events_id_seq'::regclass) END
$function$;
