-- tokens.refuse_account_removal: the statement trigger that keeps ledger accounts forever.
-- The whole current definition; migrations apply frozen copies of it (0003_ledger_speed; its
-- search_path is 0005_least_privilege's).
--
CREATE OR REPLACE FUNCTION tokens.refuse_account_removal()
 RETURNS trigger
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    RAISE EXCEPTION 'ledger accounts are never removed: transfers refer to them'
        USING ERRCODE = '55000';
END
$function$;
