"""Foundation: roles, schemas, auth.users, ops.outbox, RLS.

Revision ID: 0001_foundation
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0001_foundation"
down_revision = None
branch_labels = None
depends_on = None

# The roles (gv_user, gv_service, the gv_app login) are cluster objects shared by every
# database on the server: `db.roles` creates them and sets their memberships before any
# migration runs, and the migrations run as gv_owner, which may not create roles.

SCHEMA = """
CREATE SCHEMA auth;
CREATE SCHEMA ops;
GRANT USAGE ON SCHEMA auth, ops TO gv_user, gv_service;

CREATE FUNCTION auth.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
GRANT EXECUTE ON FUNCTION auth.current_user_id() TO gv_user, gv_service;

CREATE TABLE auth.users (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    telegram_id     bigint NOT NULL UNIQUE,
    username        text,
    first_name      text NOT NULL DEFAULT '',
    last_name       text,
    language_code   text,
    language        text CHECK (language IN ('en', 'ru')),
    is_premium      boolean NOT NULL DEFAULT false,
    photo_url       text,
    referral_code   text NOT NULL UNIQUE CHECK (referral_code ~ '^[A-Za-z0-9_-]{6,32}$'),
    referred_by     uuid REFERENCES auth.users (id),
    role            text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz NOT NULL DEFAULT now(),
    banned_at       timestamptz,
    bot_blocked_at  timestamptz,
    deleted_at      timestamptz,
    CHECK (referred_by IS DISTINCT FROM id)
);
CREATE INDEX users_username_idx ON auth.users (lower(username)) WHERE username IS NOT NULL;
CREATE INDEX users_referred_by_idx ON auth.users (referred_by) WHERE referred_by IS NOT NULL;

ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE auth.users FORCE ROW LEVEL SECURITY;
CREATE POLICY users_self_read ON auth.users FOR SELECT TO gv_user
    USING (id = (SELECT auth.current_user_id()));
CREATE POLICY users_self_update ON auth.users FOR UPDATE TO gv_user
    USING (id = (SELECT auth.current_user_id()))
    WITH CHECK (id = (SELECT auth.current_user_id()));
CREATE POLICY users_service ON auth.users FOR ALL TO gv_service USING (true) WITH CHECK (true);
GRANT SELECT ON auth.users TO gv_user;
GRANT UPDATE (language, updated_at) ON auth.users TO gv_user;
GRANT SELECT, INSERT, UPDATE ON auth.users TO gv_service;

CREATE TABLE ops.outbox (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         uuid REFERENCES auth.users (id),
    chat_id         bigint NOT NULL,
    template        text NOT NULL,
    params          jsonb NOT NULL DEFAULT '{}'::jsonb,
    reply_markup    jsonb,
    dedup_key       text UNIQUE,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'blocked')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    locked_until    timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE INDEX outbox_due_idx ON ops.outbox (next_attempt_at) WHERE status IN ('pending', 'sending');

ALTER TABLE ops.outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE ops.outbox FORCE ROW LEVEL SECURITY;
-- A user's own action may notify someone else (a transfer notifies its recipient), so a user
-- transaction may enqueue; only the system reads or changes the queue.
CREATE POLICY outbox_user_enqueue ON ops.outbox FOR INSERT TO gv_user WITH CHECK (true);
CREATE POLICY outbox_service ON ops.outbox FOR ALL TO gv_service USING (true) WITH CHECK (true);
GRANT INSERT ON ops.outbox TO gv_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON ops.outbox TO gv_service;
"""


def upgrade() -> None:
    run_script(SCHEMA)


def downgrade() -> None:
    run_script("DROP SCHEMA ops CASCADE")
    run_script("DROP SCHEMA auth CASCADE")
