"""Least privilege: owner-run definer functions, a signed user identity, no user enqueue.

Revision ID: 0005_least_privilege
Revises: 0004_ledger_replays
Create Date: 2026-12-03

- **SECURITY DEFINER functions put pg_temp last.** With `search_path = ''` PostgreSQL still
  searches the caller's temporary schema, and searches it *first* for types and relations:
  a caller able to create a `pg_temp.uuid` domain whose CHECK calls its own function had that
  function run with the definer's rights when `tokens.create_transfers` cast to `uuid`. Every
  function now sets `search_path = pg_catalog, pg_temp`; the objects belong to `gv_owner`,
  which is no superuser (`db.roles`); and nobody but the owner may create temporary objects
  (`db.roles.PREPARE_DATABASE`).
- **The user's identity is a signed claim.** `auth.current_user_id()` read a free-form
  setting any SQL in a user transaction could change. It now returns the id of
  `app.user_claim = '<uuid>.<hex HMAC-SHA256 of the uuid>'` only when the MAC verifies
  under the key in `auth.identity_key`, which the service role may read and the user role
  may not; otherwise NULL, which every policy answers with no rows. The HMAC is built from
  core `sha256()` (the embedded server has no pgcrypto), with the padded keys stored beside
  the key.
- **Users do not enqueue messages.** Every enqueue runs as the service (the ledger calls and
  the batcher on the statement pool, the admin's grants in a service transaction), so the
  user role's INSERT on `ops.outbox`, its policy and its USAGE on `ops` go.
- **Functions are not executable by PUBLIC** unless granted, now and for future functions
  of gv_owner (default privileges).
- The owner policies of the ledger tables, made for whoever ran 0002, now name gv_owner, and
  gv_owner may read `auth.users` (the ledger function checks that a user exists): FORCE
  ROW LEVEL SECURITY holds a non-superuser owner to the policies.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0005_least_privilege"
down_revision = "0004_ledger_replays"
branch_labels = None
depends_on = None

_DEFINERS = (
    "tokens.create_transfers(jsonb, boolean)",
    "tokens.expired_holds(integer)",
)
_OTHERS = ("tokens.refuse_account_removal()",)

IDENTITY = r"""
-- One row. `key` is what the app signs claims with; `inner_key` and `outer_key` are the key
-- XOR the HMAC pads (0x36, 0x5c), so a check costs two sha256() and no loop.
CREATE TABLE auth.identity_key (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    key         bytea NOT NULL CHECK (length(key) = 64),
    inner_key   bytea NOT NULL CHECK (length(inner_key) = 64),
    outer_key   bytea NOT NULL CHECK (length(outer_key) = 64),
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- gen_random_uuid() draws from the server's strong random source: 4 x 122 random bits.
DO $$
DECLARE
    k bytea := pg_catalog.decode(pg_catalog.replace(
        gen_random_uuid()::text || gen_random_uuid()::text
        || gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex');
    i bytea := k;
    o bytea := k;
BEGIN
    FOR n IN 0..63 LOOP
        i := pg_catalog.set_byte(i, n, pg_catalog.get_byte(k, n) # 54);
        o := pg_catalog.set_byte(o, n, pg_catalog.get_byte(k, n) # 92);
    END LOOP;
    INSERT INTO auth.identity_key (key, inner_key, outer_key) VALUES (k, i, o);
END
$$;
REVOKE ALL ON auth.identity_key FROM PUBLIC;
GRANT SELECT (key) ON auth.identity_key TO gv_service;

-- The id in app.user_claim when its MAC verifies, else NULL. Policies call it as
-- `(SELECT auth.current_user_id())`: once per statement. PL/pgSQL because it keeps its plans
-- for the session (a SQL function with SET is planned again on every call, 150 µs against 10),
-- and no regular expression (a `{64}` bound costs 18 µs to match): the length and the MAC
-- are the whole check, and only the key holder can sign something that is not a uuid.
-- The MACs are compared through sha256(), so the time the comparison takes says nothing
-- about how many leading characters of a guess were right.
CREATE OR REPLACE FUNCTION auth.current_user_id() RETURNS pg_catalog.uuid
    LANGUAGE plpgsql STABLE PARALLEL SAFE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
    AS $$
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
$$;
"""

IDENTITY_DOWN = """
CREATE OR REPLACE FUNCTION auth.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE SECURITY INVOKER
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
DROP TABLE auth.identity_key;
"""

SEARCH_PATH = "\n".join(
    f"ALTER FUNCTION {f} SET search_path = pg_catalog, pg_temp;" for f in _DEFINERS + _OTHERS
)
SEARCH_PATH_DOWN = "\n".join(
    f"ALTER FUNCTION {f} SET search_path = '';" for f in _DEFINERS + _OTHERS
)

GRANTS = """
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA auth, ops, tokens FROM PUBLIC;
ALTER DEFAULT PRIVILEGES FOR ROLE gv_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
GRANT EXECUTE ON FUNCTION auth.current_user_id() TO gv_user, gv_service;

ALTER POLICY accounts_owner ON tokens.accounts TO gv_owner;
ALTER POLICY transfers_owner ON tokens.transfers TO gv_owner;
-- The ledger function checks that a user account's user exists; FORCE holds the owner to
-- policies, and a superuser owner used to skip them.
CREATE POLICY users_owner ON auth.users FOR SELECT TO gv_owner USING (true);

DROP POLICY outbox_user_enqueue ON ops.outbox;
REVOKE INSERT ON ops.outbox FROM gv_user;
REVOKE USAGE ON SCHEMA ops FROM gv_user;
"""

GRANTS_DOWN = """
DROP POLICY users_owner ON auth.users;
GRANT USAGE ON SCHEMA ops TO gv_user;
GRANT INSERT ON ops.outbox TO gv_user;
CREATE POLICY outbox_user_enqueue ON ops.outbox FOR INSERT TO gv_user WITH CHECK (true);

ALTER DEFAULT PRIVILEGES FOR ROLE gv_owner GRANT EXECUTE ON FUNCTIONS TO PUBLIC;
GRANT EXECUTE ON FUNCTION auth.current_user_id(), tokens.user_address_pattern(),
    tokens.refuse_account_removal() TO PUBLIC;
"""


def upgrade() -> None:
    run_script(IDENTITY)
    run_script(SEARCH_PATH)
    run_script(GRANTS)


def downgrade() -> None:
    run_script(GRANTS_DOWN)
    run_script(SEARCH_PATH_DOWN)
    run_script(IDENTITY_DOWN)
