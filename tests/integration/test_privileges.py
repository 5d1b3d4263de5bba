"""Least privilege in the database: who owns what, who may do what, and what SQL run under the
app's credentials cannot do (become a superuser, the service, or another user)."""

from __future__ import annotations

import asyncio
import difflib
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from db.database import Database, create_database, user_claim
from db.migrate import downgrade, prepare, upgrade
from db.models import User
from db.urls import app_url_from_owner, asyncpg_dsn
from services.ledger.balances import balances
from services.users.schemas import Origin, TelegramProfile
from services.users.service import upsert_from_telegram
from tests.invariants import assert_invariants
from tests.ledger_helpers import fund, make_user
from tests.pg import MigratedTemplate

# The schemas the app's objects live in (everything but the system's and `public`).
_APP_SCHEMAS = "n.nspname !~ '^(pg_|information_schema$|public$)'"


@pytest.fixture
async def owner(owner_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The migrator's connection (a superuser on the test servers)."""
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    yield conn
    await conn.close()


async def _register(db: Database, telegram_id: int) -> User:
    async with db.service() as session:
        return (
            await upsert_from_telegram(
                session,
                TelegramProfile(telegram_id=telegram_id),
                admin_ids=frozenset(),
                origin=Origin.bot(),
            )
        ).user  # type: ignore[arg-type]


# --- 1. Nothing runs with a superuser's rights -------------------------------------------

_SPY = """
CREATE FUNCTION pg_temp.spy(value pg_catalog.uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'spied as %', current_user;
END
$$;
CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (pg_temp.spy(VALUE));
"""
_TRANSFER = (
    "SELECT tokens.create_transfers($1::jsonb, true)",
    '[{"id": "%s", "debit": "system:issuance", "credit": "system:fees", "asset": "VIBE",'
    ' "amount": "1", "code": "test"}]',
)


async def test_definer_functions_ignore_the_callers_temporary_types(
    owner: asyncpg.Connection,
) -> None:
    """A `pg_temp.uuid` domain shadowed `uuid` inside `tokens.create_transfers` while its
    search_path was '': its CHECK ran with the definer's rights. Now pg_catalog comes first."""
    sql, batch = _TRANSFER
    outer = owner.transaction()
    await outer.start()
    try:
        await owner.execute(_SPY)
        # The function as it was (search_path '', owned by the migrating superuser): the
        # caller's code runs inside it as a superuser.
        await owner.execute(
            "ALTER FUNCTION tokens.create_transfers(jsonb, boolean) SET search_path = ''"
        )
        await owner.execute(
            "ALTER FUNCTION tokens.create_transfers(jsonb, boolean) OWNER TO CURRENT_USER"
        )
        with pytest.raises(asyncpg.RaiseError, match="spied as ") as spied:
            async with owner.transaction():
                await owner.fetchval(sql, batch % uuid.uuid4())
        spy_role = str(spied.value).split()[-1]
        assert await owner.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = $1", spy_role)
        # Owned by gv_owner alone, the hijack would still run the caller's code as gv_owner.
        await owner.execute(
            "ALTER FUNCTION tokens.create_transfers(jsonb, boolean) OWNER TO gv_owner"
        )
        with pytest.raises(asyncpg.RaiseError, match="spied as gv_owner"):
            async with owner.transaction():
                await owner.fetchval(sql, batch % uuid.uuid4())
        # The function as migrated: the domain is never seen.
        await owner.execute(
            "ALTER FUNCTION tokens.create_transfers(jsonb, boolean)"
            " SET search_path = pg_catalog, pg_temp"
        )
        assert await owner.fetchval(sql, batch % uuid.uuid4()) == ["ok"]
    finally:
        await outer.rollback()


@pytest.mark.parametrize("scope", ["user", "service", "user login", "service login"])
async def test_app_roles_cannot_create_temporary_objects(db: Database, scope: str) -> None:
    """The attack needs a temporary object: no app role may create one."""
    ann = await _register(db, 1)
    for statement in (
        "CREATE TEMP TABLE t (a int)",
        "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (VALUE IS NOT NULL)",
    ):
        with pytest.raises(DBAPIError, match="permission denied to create temporary"):
            if scope == "user":
                async with db.user(ann.id) as session:
                    await session.execute(text(statement))
            elif scope == "service":
                async with db.service() as session:
                    await session.execute(text(statement))
            else:
                engine = db.engine if scope == "service login" else db.user_engine
                assert engine is not None
                async with engine.connect() as conn:
                    await conn.execute(text(statement))


async def test_every_definer_function_pins_its_search_path_and_belongs_to_the_owner_role(
    owner: asyncpg.Connection,
) -> None:
    rows = await owner.fetch(
        f"""
        SELECT p.oid::regprocedure::text AS name, p.proconfig, o.rolname, o.rolsuper
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          JOIN pg_roles o ON o.oid = p.proowner
         WHERE p.prosecdef AND {_APP_SCHEMAS}
         ORDER BY 1
        """
    )
    assert {r["name"] for r in rows} >= {
        "auth.current_user_id()",
        "tokens.create_transfers(jsonb,boolean)",
        "tokens.expired_holds(integer)",
    }
    for r in rows:
        assert "search_path=pg_catalog, pg_temp" in (r["proconfig"] or []), r["name"]
        assert (r["rolname"], r["rolsuper"]) == ("gv_owner", False), r["name"]
    # No function at all keeps the empty search_path that put pg_temp first.
    assert not await owner.fetchval(
        f"""
        SELECT array_agg(p.oid::regprocedure::text)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE {_APP_SCHEMAS} AND 'search_path=""' = ANY (p.proconfig)
        """
    )


_OWNERS = f"""
SELECT kind, name, rolname, rolsuper FROM (
    SELECT 'schema' AS kind, n.nspname::text AS name, n.nspowner AS owner
      FROM pg_namespace n WHERE {_APP_SCHEMAS}
    UNION ALL
    SELECT 'relation', c.oid::regclass::text, c.relowner
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE {_APP_SCHEMAS} OR c.oid = 'public.alembic_version'::regclass
    UNION ALL
    SELECT 'function', p.oid::regprocedure::text, p.proowner
      FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE {_APP_SCHEMAS}
    UNION ALL
    SELECT 'type', t.oid::regtype::text, t.typowner
      FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE {_APP_SCHEMAS}
) o JOIN pg_roles r ON r.oid = o.owner
ORDER BY 1, 2
"""


async def test_the_owner_role_owns_every_object_and_is_no_superuser(
    owner: asyncpg.Connection,
) -> None:
    rows = await owner.fetch(_OWNERS)
    assert len(rows) > 50  # schemas, tables, indexes, sequences, functions, row types
    strays = [
        f"{r['kind']} {r['name']}: {r['rolname']}" for r in rows if r["rolname"] != "gv_owner"
    ]
    assert strays == []
    assert not await owner.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = 'gv_owner'")


async def test_migrating_hands_the_migrators_objects_to_the_owner_role(
    owner_url: str, owner: asyncpg.Connection
) -> None:
    """A database migrated before the owner role existed belongs to the migrator."""
    await owner.execute(
        """
        CREATE TABLE ops.stray (id bigint GENERATED ALWAYS AS IDENTITY, note text);
        CREATE SEQUENCE tokens.stray_seq;
        CREATE FUNCTION tokens.stray() RETURNS int LANGUAGE sql AS 'SELECT 1';
        CREATE DOMAIN tokens.stray_amount AS numeric CHECK (VALUE >= 0);
        ALTER SCHEMA ops OWNER TO CURRENT_USER;
        """
    )
    assert await owner.fetchval(
        "SELECT count(*) FROM pg_class WHERE relowner <> 'gv_owner'::regrole"
        " AND relnamespace = 'ops'::regnamespace"
    )
    await upgrade(owner_url)
    strays = [r for r in await owner.fetch(_OWNERS) if r["rolname"] != "gv_owner"]
    assert strays == []


# --- 2. A user transaction stays that user ----------------------------------------------


async def test_a_user_transaction_cannot_become_the_service_or_the_login(db: Database) -> None:
    ann = await _register(db, 1)
    for statement in ("SET ROLE gv_service", "SET LOCAL ROLE gv_app", "SET ROLE gv_owner"):
        with pytest.raises(DBAPIError, match="permission denied to set role"):
            async with db.user(ann.id) as session:
                await session.execute(text(statement))
    # Back to the login role: it may do nothing at all.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.user(ann.id) as session:
            await session.execute(text("RESET ROLE"))
            assert await session.scalar(text("SELECT current_user")) == "gv_app_user"
            await session.execute(text("SELECT id FROM auth.users"))


async def test_a_user_transaction_cannot_claim_another_user(db: Database) -> None:
    ann, bob = await _register(db, 1), await _register(db, 2)
    claim = "SELECT set_config('app.user_claim', :claim, true)"
    own_mac = user_claim(b"not the key", ann.id).split(".")[1]
    async with db.user(ann.id) as session:
        real = await session.scalar(text("SELECT current_setting('app.user_claim')"))
        real_mac = real.split(".")[1]
        forgeries = [
            f"{bob.id}.{real_mac}",  # ann's MAC on bob's id
            f"{bob.id}.{own_mac}",  # a MAC under a guessed key
            f"{bob.id}.{'0' * 64}",
            str(bob.id),
            f"{str(bob.id).upper()}.{real_mac}",
            f"{bob.id}.{real_mac} ",
            "",
        ]
        for forged in forgeries:
            await session.execute(text(claim), {"claim": forged})
            assert await session.scalar(text("SELECT auth.current_user_id()")) is None, forged
            assert (await session.execute(text("SELECT id FROM auth.users"))).all() == []
        # The old free-form setting means nothing any more.
        await session.execute(
            text("SELECT set_config('app.user_id', :id, true)"), {"id": str(bob.id)}
        )
        assert (await session.execute(text("SELECT id FROM auth.users"))).all() == []
        await session.execute(text(claim), {"claim": real})
        assert (await session.execute(text("SELECT id FROM auth.users"))).scalars().all() == [
            ann.id
        ]


async def test_the_user_role_cannot_read_the_identity_key(db: Database) -> None:
    ann = await _register(db, 1)
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.user(ann.id) as session:
            await session.execute(text("SELECT key FROM auth.identity_key"))
    # The service reads only the key, not the pads.
    with pytest.raises(DBAPIError, match="permission denied"):
        async with db.service() as session:
            await session.execute(text("SELECT inner_key FROM auth.identity_key"))


async def test_the_claim_the_app_signs_is_the_one_the_database_checks(
    db: Database, owner: asyncpg.Connection
) -> None:
    ann = await _register(db, 1)
    key = await owner.fetchval("SELECT key FROM auth.identity_key")
    assert len(key) == 64
    async with owner.transaction():
        await owner.execute(
            "SELECT set_config('app.user_claim', $1, true)", user_claim(key, ann.id)
        )
        assert await owner.fetchval("SELECT auth.current_user_id()") == ann.id


# --- 3. Users do not write the outbox; the grant table ----------------------------------


async def test_a_user_transaction_cannot_enqueue_messages(db: Database) -> None:
    ann = await _register(db, 1)
    with pytest.raises(DBAPIError, match="permission denied for schema ops"):
        async with db.user(ann.id) as session:
            await session.execute(
                text(
                    "INSERT INTO ops.outbox (chat_id, template, params)"
                    " VALUES (1, 'send.received', '{}')"
                )
            )


# Every privilege the app's roles (and PUBLIC) hold in the database, plus their memberships
# and attributes. A new grant changes this table on purpose, in the same commit.
_GRANTS = """
WITH roles(name) AS (
    VALUES ('PUBLIC'), ('gv_owner'), ('gv_user'), ('gv_service'), ('gv_app'), ('gv_app_user')
), app_ns AS (
    SELECT oid, nspname FROM pg_namespace WHERE nspname !~ '^(pg_|information_schema$)'
), acl AS (
    SELECT 'database' AS object, x.grantee, x.privilege_type, d.datdba AS owner
      FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) x
     WHERE d.datname = current_database()
    UNION ALL
    SELECT 'schema ' || n.nspname, x.grantee, x.privilege_type, n.nspowner
      FROM pg_namespace n JOIN app_ns USING (oid),
           aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) x
    UNION ALL
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' ELSE 'table ' END || c.oid::regclass::text,
           x.grantee, x.privilege_type, c.relowner
      FROM pg_class c JOIN app_ns n ON n.oid = c.relnamespace,
           aclexplode(coalesce(c.relacl, acldefault(
               (CASE c.relkind WHEN 'S' THEN 's' ELSE 'r' END)::"char", c.relowner))) x
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
    UNION ALL
    SELECT 'column ' || c.oid::regclass::text || '.' || a.attname, x.grantee,
           x.privilege_type, c.relowner
      FROM pg_class c JOIN app_ns n ON n.oid = c.relnamespace
      JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped,
           aclexplode(a.attacl) x
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text, x.grantee, x.privilege_type, p.proowner
      FROM pg_proc p JOIN app_ns n ON n.oid = p.pronamespace,
           aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) x
    UNION ALL
    SELECT 'default for ' || pg_get_userbyid(d.defaclrole) || ' on '
           || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                  WHEN 'f' THEN 'functions' WHEN 'T' THEN 'types' WHEN 'n' THEN 'schemas' END
           || CASE WHEN d.defaclnamespace <> 0
                   THEN ' in ' || d.defaclnamespace::regnamespace::text ELSE '' END,
           x.grantee, x.privilege_type, 0
      FROM pg_default_acl d, aclexplode(d.defaclacl) x
)
SELECT r.name, acl.privilege_type, acl.object
  FROM acl JOIN roles r
    ON r.name = CASE acl.grantee WHEN 0 THEN 'PUBLIC' ELSE pg_get_userbyid(acl.grantee) END
 WHERE acl.grantee <> acl.owner
UNION ALL
SELECT m.rolname, 'MEMBER OF', 'role ' || g.rolname
  FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member
  JOIN pg_roles g ON g.oid = am.roleid
 WHERE m.rolname IN (SELECT name FROM roles) OR g.rolname IN (SELECT name FROM roles)
UNION ALL
SELECT rolname, 'ATTRIBUTES', concat_ws(' ',
       CASE WHEN rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
       CASE WHEN rolinherit THEN 'INHERIT' ELSE 'NOINHERIT' END,
       CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
       CASE WHEN rolcreatedb THEN 'CREATEDB' END,
       CASE WHEN rolreplication THEN 'REPLICATION' END,
       CASE WHEN rolbypassrls THEN 'BYPASSRLS' END)
  FROM pg_roles WHERE rolname IN (SELECT name FROM roles)
"""

EXPECTED_GRANTS = """
PUBLIC       USAGE       schema public
gv_app       ATTRIBUTES  LOGIN NOINHERIT
gv_app       CONNECT     database
gv_app       MEMBER OF   role gv_service
gv_app_user  ATTRIBUTES  LOGIN NOINHERIT
gv_app_user  CONNECT     database
gv_app_user  MEMBER OF   role gv_user
gv_owner     ATTRIBUTES  NOLOGIN NOINHERIT
gv_owner     CREATE      database
gv_owner     EXECUTE     default for gv_owner on functions
gv_service   ATTRIBUTES  NOLOGIN INHERIT
gv_service   SELECT      column auth.identity_key.key
gv_service   EXECUTE     function auth.current_user_id()
gv_service   EXECUTE     function gifts.promo_redeemed(uuid)
gv_service   EXECUTE     function gifts.redeem_promo(bytea,uuid,text)
gv_service   EXECUTE     function gifts.redeem_promos(bytea,uuid[],text[])
gv_service   EXECUTE     function ops.enqueue(jsonb)
gv_service   EXECUTE     function ops.next_event_id()
gv_service   EXECUTE     function tokens.create_transfers(jsonb,boolean)
gv_service   EXECUTE     function tokens.credit_purchases(text[],uuid[],bigint[],text[],integer[],numeric[],uuid[],uuid[],integer[],integer,text,integer,integer)
gv_service   EXECUTE     function tokens.expired_holds(integer)
gv_service   USAGE       schema ai
gv_service   USAGE       schema auth
gv_service   USAGE       schema gifts
gv_service   USAGE       schema market
gv_service   USAGE       schema ops
gv_service   USAGE       schema referrals
gv_service   USAGE       schema tokens
gv_service   USAGE       sequence ops.events_id_seq
gv_service   INSERT      table ai.attempts
gv_service   SELECT      table ai.attempts
gv_service   INSERT      table ai.daily_spend
gv_service   SELECT      table ai.daily_spend
gv_service   UPDATE      table ai.daily_spend
gv_service   INSERT      table ai.jobs
gv_service   SELECT      table ai.jobs
gv_service   UPDATE      table ai.jobs
gv_service   DELETE      table ai.webhook_receipts
gv_service   INSERT      table ai.webhook_receipts
gv_service   SELECT      table ai.webhook_receipts
gv_service   INSERT      table auth.users
gv_service   SELECT      table auth.users
gv_service   UPDATE      table auth.users
gv_service   INSERT      table auth.wallet_addresses
gv_service   SELECT      table auth.wallet_addresses
gv_service   INSERT      table gifts.gift_shares
gv_service   SELECT      table gifts.gift_shares
gv_service   UPDATE      table gifts.gift_shares
gv_service   INSERT      table gifts.gifts
gv_service   SELECT      table gifts.gifts
gv_service   UPDATE      table gifts.gifts
gv_service   INSERT      table gifts.promo_codes
gv_service   SELECT      table gifts.promo_codes
gv_service   UPDATE      table gifts.promo_codes
gv_service   INSERT      table gifts.promo_redemptions
gv_service   SELECT      table gifts.promo_redemptions
gv_service   UPDATE      table gifts.promo_redemptions
gv_service   INSERT      table gifts.promo_slots
gv_service   SELECT      table gifts.promo_slots
gv_service   UPDATE      table gifts.promo_slots
gv_service   INSERT      table market.fills
gv_service   SELECT      table market.fills
gv_service   INSERT      table market.offers
gv_service   SELECT      table market.offers
gv_service   UPDATE      table market.offers
gv_service   INSERT      table ops.announcements
gv_service   SELECT      table ops.announcements
gv_service   UPDATE      table ops.announcements
gv_service   DELETE      table ops.events
gv_service   INSERT      table ops.events
gv_service   SELECT      table ops.events
gv_service   SELECT      table ops.events_horizon
gv_service   UPDATE      table ops.events_horizon
gv_service   DELETE      table ops.outbox
gv_service   INSERT      table ops.outbox
gv_service   SELECT      table ops.outbox
gv_service   UPDATE      table ops.outbox
gv_service   DELETE      table ops.outbox_chats
gv_service   INSERT      table ops.outbox_chats
gv_service   SELECT      table ops.outbox_chats
gv_service   UPDATE      table ops.outbox_chats
gv_service   SELECT      table ops.outbox_pace
gv_service   UPDATE      table ops.outbox_pace
gv_service   INSERT      table referrals.flags
gv_service   SELECT      table referrals.flags
gv_service   UPDATE      table referrals.flags
gv_service   INSERT      table referrals.links
gv_service   SELECT      table referrals.links
gv_service   DELETE      table referrals.notice_items
gv_service   INSERT      table referrals.notice_items
gv_service   SELECT      table referrals.notice_items
gv_service   INSERT      table referrals.notices
gv_service   SELECT      table referrals.notices
gv_service   UPDATE      table referrals.notices
gv_service   INSERT      table referrals.reward_events
gv_service   SELECT      table referrals.reward_events
gv_service   UPDATE      table referrals.reward_events
gv_service   SELECT      table referrals.rewards
gv_service   INSERT      table referrals.totals
gv_service   SELECT      table referrals.totals
gv_service   UPDATE      table referrals.totals
gv_service   DELETE      table ops.realtime_connections
gv_service   INSERT      table ops.realtime_connections
gv_service   SELECT      table ops.realtime_connections
gv_service   UPDATE      table ops.realtime_connections
gv_service   SELECT      table tokens.account_kinds
gv_service   SELECT      table tokens.accounts
gv_service   SELECT      table tokens.assets
gv_service   INSERT      table tokens.debts
gv_service   SELECT      table tokens.debts
gv_service   UPDATE      table tokens.debts
gv_service   DELETE      table tokens.idempotency_keys
gv_service   INSERT      table tokens.idempotency_keys
gv_service   SELECT      table tokens.idempotency_keys
gv_service   UPDATE      table tokens.idempotency_keys
gv_service   INSERT      table tokens.p2p_requests
gv_service   SELECT      table tokens.p2p_requests
gv_service   UPDATE      table tokens.p2p_requests
gv_service   INSERT      table tokens.purchases
gv_service   SELECT      table tokens.purchases
gv_service   UPDATE      table tokens.purchases
gv_service   SELECT      table tokens.stars_sync
gv_service   UPDATE      table tokens.stars_sync
gv_service   SELECT      table tokens.transfers
gv_user      ATTRIBUTES  NOLOGIN INHERIT
gv_user      UPDATE      column auth.users.language
gv_user      UPDATE      column auth.users.updated_at
gv_user      EXECUTE     function auth.current_user_id()
gv_user      USAGE       schema ai
gv_user      USAGE       schema auth
gv_user      USAGE       schema referrals
gv_user      USAGE       schema tokens
gv_user      SELECT      table ai.jobs
gv_user      SELECT      table auth.users
gv_user      SELECT      table referrals.my_downline
gv_user      SELECT      table referrals.my_levels
gv_user      SELECT      table tokens.account_kinds
gv_user      SELECT      table tokens.accounts
gv_user      SELECT      table tokens.assets
gv_user      SELECT      table tokens.purchases
gv_user      SELECT      table tokens.transfers
"""


def _table(rows: list[tuple[str, str, str]]) -> list[str]:
    return [
        f"{role:<12} {privilege:<11} {target}"
        for role, privilege, target in sorted(rows, key=lambda r: (r[0], r[2], r[1]))
    ]


async def test_the_grant_table_is_exactly_the_expected_one(owner: asyncpg.Connection) -> None:
    actual = _table([(r[0], r[1], r[2]) for r in await owner.fetch(_GRANTS)])
    # Columns of fixed width: role, privilege, object.
    lines = EXPECTED_GRANTS.strip().splitlines()
    expected = _table([(x[:12].strip(), x[13:24].strip(), x[25:].strip()) for x in lines])
    if actual != expected:
        diff = "\n".join(difflib.unified_diff(expected, actual, "expected", "actual", lineterm=""))
        pytest.fail(f"the database's grants differ from EXPECTED_GRANTS:\n{diff}")


# --- The migration -----------------------------------------------------------------------


async def test_least_privilege_migration_downgrades_and_upgrades(
    owner_url: str, owner: asyncpg.Connection
) -> None:
    definer_paths = """
        SELECT array_agg(DISTINCT c ORDER BY c) FROM pg_proc p, unnest(p.proconfig) c
         WHERE p.pronamespace = 'tokens'::regnamespace AND c LIKE 'search_path=%'
    """
    await downgrade(owner_url, "0004_ledger_replays")
    assert await owner.fetchval("SELECT to_regclass('auth.identity_key')") is None
    assert await owner.fetchval(definer_paths) == ['search_path=""']
    assert (
        await owner.fetchval("SELECT count(*) FROM pg_policy WHERE polname = 'outbox_user_enqueue'")
        == 1
    )
    await upgrade(owner_url)
    assert await owner.fetchval("SELECT count(*) FROM auth.identity_key") == 1
    assert await owner.fetchval(definer_paths) == ["search_path=pg_catalog, pg_temp"]
    assert (
        await owner.fetchval("SELECT count(*) FROM pg_policy WHERE polname = 'outbox_user_enqueue'")
        == 0
    )


async def test_a_database_the_superuser_migrated_upgrades_in_place(
    owner_url: str, owner: asyncpg.Connection
) -> None:
    """Production before 0005: every object owned by the migrator (a superuser), the ledger's
    owner policies naming it, and gv_app a member of gv_user as well."""
    await downgrade(owner_url, "0004_ledger_replays")
    await owner.execute("REASSIGN OWNED BY gv_owner TO CURRENT_USER")
    await owner.execute(
        """
        ALTER POLICY accounts_owner ON tokens.accounts TO CURRENT_USER;
        ALTER POLICY transfers_owner ON tokens.transfers TO CURRENT_USER;
        """
    )
    assert (
        await owner.fetchval("SELECT count(*) FROM pg_class WHERE relowner = 'gv_owner'::regrole")
        == 0
    )
    await upgrade(owner_url)
    assert [r for r in await owner.fetch(_OWNERS) if r["rolname"] != "gv_owner"] == []
    db = create_database(app_url_from_owner(owner_url), pool_size=2)
    try:
        ann = await make_user(db)
        await fund(db, ann.id, 7)
        async with db.user(ann.id) as session:
            assert await balances(session)
            posted = await session.scalar(
                text("SELECT credits_posted FROM tokens.accounts WHERE kind = 'wallet'")
            )
        assert posted is not None and int(posted) >= 7
    finally:
        await db.dispose()
    await assert_invariants(owner_url)


async def test_role_setup_is_safe_from_many_databases_at_once(
    pg_template: MigratedTemplate,
) -> None:
    """Roles are the server's: several databases may set them up at the same moment, and
    memberships an older version granted (gv_app in gv_user) are taken away."""
    admin = await pg_template.cluster.admin()
    try:
        await admin.execute("REVOKE gv_user FROM gv_app_user")
        await admin.execute("GRANT gv_user TO gv_app")
    finally:
        await admin.close()
    async with AsyncExitStack() as stack:
        urls = [await stack.enter_async_context(pg_template.clone_unprepared()) for _ in range(4)]
        await asyncio.gather(*(prepare(url) for url in urls))
        conn = await asyncpg.connect(asyncpg_dsn(urls[0]))
        try:
            members = await conn.fetch(
                "SELECT m.rolname AS member, r.rolname AS role FROM pg_auth_members am"
                " JOIN pg_roles m ON m.oid = am.member JOIN pg_roles r ON r.oid = am.roleid"
                " WHERE m.rolname IN ('gv_app', 'gv_app_user') ORDER BY 1, 2"
            )
        finally:
            await conn.close()
    assert [tuple(r) for r in members] == [("gv_app", "gv_service"), ("gv_app_user", "gv_user")]
