"""Every PostgreSQL advisory-lock key the app takes, in one place.

Advisory locks are per database and live in two separate key spaces: the one-key form
(`pg_advisory_xact_lock(bigint)`) and the two-key form (`pg_advisory_xact_lock(int4, int4)`)
never block each other. Within a space, two holders that pick the same key would serialise
(or, with a try-lock, skip work) for no reason, so every key is named here and
`tests/unit/test_advisory_locks.py` checks they are distinct, that Python takes locks only
through these names, and that the SQL sources (`db/sql/`) use only the namespaces below.

To add a lock: a constant here with who holds it and why, in `SINGLE_KEYS` or `NAMESPACES`.
"""

from __future__ import annotations

from typing import Final

# --- one key: pg_advisory_xact_lock(key bigint) ---

# db.migrate: held by whoever migrates, for the whole migration transaction, so that
# processes starting at once (bot, api, worker roles) migrate one after the other. The value
# is hashtext('goodvibe.migrations'), the key earlier versions computed in SQL, so a process
# of an older version starting beside a newer one still waits for it.
MIGRATIONS: Final = 1836262210

# services.ledger.tasks.expire_holds: try-locked by every instance's scheduler; the one that
# gets it voids the expired holds, the others skip that round. ASCII "ledg".
HOLD_EXPIRY: Final = 0x6C656467

# services.referrals.rewards.send_reward_notices: try-locked by every instance's scheduler, so
# one instance at a time tells referrers (at most one message per referrer per minute).
# ASCII "refn".
REFERRAL_NOTICES: Final = 0x7265666E

# services.generation.tasks.purge_webhook_receipts: try-locked per batch by every instance's
# scheduler; the one that gets it deletes old receipts, the others skip the round. ASCII "aiwr".
WEBHOOK_RECEIPT_PURGE: Final = 0x61697772

# webapp_api.idempotency.purge_keys: try-locked per batch like the receipts' purge (db.purge).
# ASCII "idem".
IDEMPOTENCY_PURGE: Final = 0x6964656D

# --- two keys: pg_advisory_xact_lock(namespace int4, key int4) ---

# tokens.create_transfers (db/sql/tokens/create_transfers.sql), in SQL: a lock per transfer
# id, key hashtext(id::text), so that concurrent calls with one id queue and the second sees
# the first's outcome. A hash collision between two ids only makes them queue.
TRANSFER_IDS: Final = 1734829

# services.market.service.create_offer, in SQL (as a literal, which the registry test reads):
# a lock per maker, key hashtext(maker_id::text), so that concurrent offers of one maker count
# their open offers one after the other and the per-user limit holds. ASCII "mkt".
MARKET_MAKERS: Final = 0x6D6B74
# services.generation.service.create_job: a lock per user, so that
# one user's concurrent orders count their quotas one after the other (key: the user id's
# first 32 bits), taken in the one-key form as (namespace << 32) | key, so it never meets a
# single key (all below 2**32).
GENERATION_QUOTAS: Final = 1734830
# services.realtime.presence.Presence.claim: a lock per user, key hashtext(user_id::text), so
# that instances admitting sockets of one user at once count them one after the other and
# the per-user cap holds across instances. ASCII "rt".
REALTIME_CONNECTIONS: Final = 0x7274

SINGLE_KEYS: Final[dict[str, int]] = {
    "MIGRATIONS": MIGRATIONS,
    "HOLD_EXPIRY": HOLD_EXPIRY,
    "REFERRAL_NOTICES": REFERRAL_NOTICES,
    "WEBHOOK_RECEIPT_PURGE": WEBHOOK_RECEIPT_PURGE,
    "IDEMPOTENCY_PURGE": IDEMPOTENCY_PURGE,
}
NAMESPACES: Final[dict[str, int]] = {
    "TRANSFER_IDS": TRANSFER_IDS,
    "MARKET_MAKERS": MARKET_MAKERS,
    "GENERATION_QUOTAS": GENERATION_QUOTAS,
    "REALTIME_CONNECTIONS": REALTIME_CONNECTIONS,
}
