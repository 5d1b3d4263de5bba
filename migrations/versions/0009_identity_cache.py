"""Identity cache: every change to a user is announced on the channel `gv_identity`.

Revision ID: 0009_identity_cache
Revises: 0007_outbox_fairness
Create Date: 2026-12-03

Each API process keeps the users it resolved in memory (services/users/cache.py) and listens
on `gv_identity`; the row trigger `users_notify_changed` sends the user's Telegram id after
every UPDATE or DELETE of `auth.users`, at commit, so a ban or a profile change evicts the
cached row in every instance. The function is a frozen copy of
`db/sql/auth/notify_user_changed.sql`. No grant: the trigger runs it as whoever changed the
row, and pg_notify needs no privilege.
"""

from __future__ import annotations

from migrations.sql import run_script

revision = "0009_identity_cache"
down_revision = "0008_use_cases"
branch_labels = None
depends_on = None

_FUNCTION = """
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
"""

_UP = (
    _FUNCTION
    + """
CREATE TRIGGER users_notify_changed AFTER UPDATE OR DELETE ON auth.users
    FOR EACH ROW EXECUTE FUNCTION auth.notify_user_changed();
"""
)

_DOWN = """
DROP TRIGGER users_notify_changed ON auth.users;
DROP FUNCTION auth.notify_user_changed();
"""


def upgrade() -> None:
    run_script(_UP)


def downgrade() -> None:
    run_script(_DOWN)
