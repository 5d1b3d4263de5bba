-- auth.current_user_id: the id in app.user_claim when its MAC verifies, else NULL.
-- The whole current definition; migrations apply frozen copies of it (0005_least_privilege).
--
-- Policies call it as `(SELECT auth.current_user_id())`: once per statement. PL/pgSQL because
-- it keeps its plans for the session (a SQL function with SET is planned again on every call,
-- 150 µs against 10), and no regular expression (a `{64}` bound costs 18 µs to match): the
-- length and the MAC are the whole check, and only the key holder can sign something that is
-- not a uuid. The MACs are compared through sha256(), so the time the comparison takes says
-- nothing about how many leading characters of a guess were right.
--
CREATE OR REPLACE FUNCTION auth.current_user_id()
 RETURNS uuid
 LANGUAGE plpgsql
 STABLE PARALLEL SAFE SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    claim pg_catalog.text := pg_catalog.current_setting('app.user_claim', true);
    k record;
BEGIN
    IF claim IS NULL OR pg_catalog.length(claim) <> 101
       OR pg_catalog.substr(claim, 37, 1) <> '.' THEN
        RETURN NULL;
    END IF;
    SELECT inner_key, outer_key INTO k FROM auth.identity_key;
    IF pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.encode(
           pg_catalog.sha256(k.outer_key || pg_catalog.sha256(
               k.inner_key || pg_catalog.convert_to(pg_catalog.left(claim, 36), 'UTF8'))),
           'hex'), 'UTF8'))
       = pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.substr(claim, 38), 'UTF8')) THEN
        RETURN pg_catalog.left(claim, 36)::pg_catalog.uuid;
    END IF;
    RETURN NULL;
END
$function$;
