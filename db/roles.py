"""The roles the app's database is built around, and what the migrator sets up before migrating.

- `gv_owner` (NOLOGIN, not a superuser) owns every schema, table, function and sequence. The
  migrations run under `SET ROLE gv_owner`, so a SECURITY DEFINER function runs with these
  rights, never a superuser's.
- `gv_app` logs in for system work and may only become `gv_service`.
- `gv_app_user` logs in for user-scoped work and may only become `gv_user`; which user it acts
  for is a signed claim the database checks (`auth.current_user_id()`), so a user-scoped
  transaction can become neither the system nor another user.

Roles are cluster objects shared by every database on the server: they are created when
missing and never dropped (other databases may still use them). Their memberships are set
here, not in a migration, so that every database on a server agrees on them.

Database-level privileges (CONNECT, TEMPORARY, CREATE) are not copied by `CREATE DATABASE …
TEMPLATE`, nor by a dump and restore, so they are set again on every start (`prepare`).
"""

from __future__ import annotations

OWNER_ROLE = "gv_owner"
USER_ROLE = "gv_user"
SERVICE_ROLE = "gv_service"
SERVICE_LOGIN = "gv_app"
USER_LOGIN = "gv_app_user"

# One transaction, safe to run again. Several databases on one server may run it at once
# (advisory locks are per database), so a concurrent creation can still fail with a
# duplicate; the caller retries, and the second pass finds the work done.
ENSURE_ROLES = """
DO $$
DECLARE
    wanted constant text[][] := ARRAY[
        ['gv_owner', 'NOLOGIN NOINHERIT'],
        ['gv_user', 'NOLOGIN'],
        ['gv_service', 'NOLOGIN'],
        ['gv_app', 'LOGIN NOINHERIT'],
        ['gv_app_user', 'LOGIN NOINHERIT']];
    -- (member, role): the only memberships the app's roles may have.
    members constant text[][] := ARRAY[['gv_app', 'gv_service'], ['gv_app_user', 'gv_user']];
    i integer;
    bad text;
BEGIN
    FOR i IN 1..array_length(wanted, 1) LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = wanted[i][1]) THEN
            EXECUTE format('CREATE ROLE %I %s NOSUPERUSER NOCREATEDB NOCREATEROLE'
                           ' NOREPLICATION NOBYPASSRLS', wanted[i][1], wanted[i][2]);
        END IF;
    END LOOP;
    SELECT string_agg(rolname, ', ') INTO bad FROM pg_catalog.pg_roles
     WHERE rolname IN ('gv_owner', 'gv_user', 'gv_service', 'gv_app', 'gv_app_user')
       AND (rolsuper OR rolbypassrls OR rolcreaterole OR rolcreatedb OR rolreplication);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'roles % must not be superusers nor bypass RLS nor create roles or '
                        'databases', bad;
    END IF;
    -- Memberships other than the wanted ones go (a user login able to become the service
    -- role is the hole this closes).
    FOR bad IN
        SELECT format('REVOKE %I FROM %I', r.rolname, m.rolname)
          FROM pg_catalog.pg_auth_members am
          JOIN pg_catalog.pg_roles m ON m.oid = am.member
          JOIN pg_catalog.pg_roles r ON r.oid = am.roleid
         WHERE m.rolname IN ('gv_owner', 'gv_user', 'gv_service', 'gv_app', 'gv_app_user')
           AND ARRAY[m.rolname::text, r.rolname::text] <> ALL (
                 SELECT ARRAY[members[j][1], members[j][2]]
                   FROM generate_series(1, array_length(members, 1)) j)
    LOOP
        EXECUTE bad;
    END LOOP;
    FOR i IN 1..array_length(members, 1) LOOP
        IF NOT pg_catalog.pg_has_role(members[i][1], members[i][2], 'MEMBER') THEN
            EXECUTE format('GRANT %I TO %I', members[i][2], members[i][1]);
        END IF;
    END LOOP;
    -- A migrator that is not a superuser must be able to SET ROLE gv_owner.
    IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)
       AND NOT pg_catalog.pg_has_role(current_user, 'gv_owner', 'MEMBER') THEN
        EXECUTE format('GRANT gv_owner TO %I', current_user);
    END IF;
END
$$
"""

# Runs in the migration's transaction, as the migrator, before `SET ROLE gv_owner`.
PREPARE_DATABASE = """
DO $$
DECLARE
    db constant text := pg_catalog.current_database();
    ddl text;
BEGIN
    -- Nobody creates temporary objects (a pg_temp object shadows a type or table for code
    -- that forgets to put pg_temp last); only the two logins connect; the owner creates the
    -- schemas.
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', db);
    EXECUTE format('REVOKE ALL ON DATABASE %I FROM gv_user, gv_service, gv_app, gv_app_user',
                   db);
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO gv_app, gv_app_user', db);
    EXECUTE format('GRANT CREATE ON DATABASE %I TO gv_owner', db);
    -- alembic's own table, made here because gv_owner may not create objects in `public`.
    CREATE TABLE IF NOT EXISTS public.alembic_version (
        version_num varchar(32) NOT NULL,
        CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
    );
    -- Whatever the migrator itself owns in the app's schemas (created before gv_owner
    -- existed, or by hand) is handed to gv_owner.
    FOR ddl IN
        SELECT format('ALTER SCHEMA %I OWNER TO gv_owner', n.nspname)
          FROM pg_catalog.pg_namespace n
         WHERE n.nspname !~ '^(pg_|information_schema$|public$)'
           AND n.nspowner <> 'gv_owner'::regrole
        UNION ALL
        SELECT format('ALTER TABLE %s OWNER TO gv_owner', c.oid::regclass)
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE (n.nspname !~ '^(pg_|information_schema$|public$)'
                OR c.oid = 'public.alembic_version'::regclass)
           AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
           AND c.relowner <> 'gv_owner'::regrole
        UNION ALL
        SELECT format('ALTER ROUTINE %s OWNER TO gv_owner', p.oid::regprocedure)
          FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname !~ '^(pg_|information_schema$|public$)'
           AND p.proowner <> 'gv_owner'::regrole
    LOOP
        EXECUTE ddl;
    END LOOP;
    -- After the tables: their sequences and row types followed them; the rest go now.
    FOR ddl IN
        SELECT format('ALTER SEQUENCE %s OWNER TO gv_owner', c.oid::regclass)
          FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname !~ '^(pg_|information_schema$|public$)'
           AND c.relkind = 'S' AND c.relowner <> 'gv_owner'::regrole
        UNION ALL
        SELECT format('ALTER TYPE %s OWNER TO gv_owner', t.oid::regtype)
          FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname !~ '^(pg_|information_schema$|public$)'
           AND t.typowner <> 'gv_owner'::regrole
           AND t.typtype IN ('d', 'e', 'r', 'c') AND t.typelem = 0
           AND (t.typrelid = 0 OR (SELECT relkind FROM pg_catalog.pg_class
                                    WHERE oid = t.typrelid) = 'c')
    LOOP
        EXECUTE ddl;
    END LOOP;
END
$$
"""
