"""Invariants every test's database must satisfy when the test ends.

Each capability adds its checks here (the ledger: zero sum per asset, no overdrawn user
account, holds resolved at most once); they run after every test that used the `db` fixture.
"""

from __future__ import annotations

import asyncpg

from db.urls import asyncpg_dsn

CHECKS: list[tuple[str, str]] = [
    (
        "an outbox message is marked sent without a send time",
        "SELECT count(*) FROM ops.outbox WHERE status = 'sent' AND sent_at IS NULL",
    ),
    (
        "a user refers themselves",
        "SELECT count(*) FROM auth.users WHERE referred_by = id",
    ),
    (
        "an asset's accounts do not sum to zero (posted or pending)",
        """
        SELECT count(*) FROM (
            SELECT asset FROM tokens.accounts GROUP BY asset
            HAVING sum(credits_posted) <> sum(debits_posted)
                OR sum(credits_pending) <> sum(debits_pending)) broken
        """,
    ),
    (
        "an account that must not go negative is overdrawn",
        """
        SELECT count(*) FROM tokens.accounts
        WHERE (user_id IS NOT NULL OR flags & 1 = 1)
          AND debits_posted + debits_pending > credits_posted
        """,
    ),
    (
        "a hold is resolved more than once, or a resolution points at no hold",
        """
        SELECT count(*) FROM (
            SELECT r.pending_id FROM tokens.transfers r
            LEFT JOIN tokens.transfers p
                   ON p.id = r.pending_id AND p.kind = 'pending' AND p.result = 'ok'
            WHERE r.result = 'ok' AND r.pending_id IS NOT NULL
            GROUP BY r.pending_id HAVING count(*) > 1 OR count(p.id) = 0) broken
        """,
    ),
    (
        "a post moved more than its hold reserved",
        """
        SELECT count(*) FROM tokens.transfers r
        JOIN tokens.transfers p ON p.id = r.pending_id
        WHERE r.result = 'ok' AND r.amount > p.amount
        """,
    ),
    (
        # What the foreign keys from tokens.transfers to tokens.accounts enforced until
        # migration 0003 (tokens.create_transfers is their only writer).
        "a transfer refers to an account that does not exist",
        """
        SELECT count(*) FROM tokens.transfers t
        WHERE (t.debit_account_id IS NOT NULL
               AND NOT EXISTS (SELECT FROM tokens.accounts a WHERE a.id = t.debit_account_id))
           OR (t.credit_account_id IS NOT NULL
               AND NOT EXISTS (SELECT FROM tokens.accounts a WHERE a.id = t.credit_account_id))
        """,
    ),
    (
        "an account's totals differ from the sums of its transfers",
        """
        WITH moves AS (
            SELECT t.id, t.kind, t.debit_account_id, t.credit_account_id, t.amount,
                   (t.kind = 'pending' AND NOT EXISTS (
                        SELECT FROM tokens.transfers r WHERE r.pending_id = t.id AND r.result = 'ok'
                   )) AS open_hold
            FROM tokens.transfers t WHERE t.result = 'ok'
        ), legs AS (
            SELECT debit_account_id AS account, amount AS debit_posted, 0 AS credit_posted,
                   0 AS debit_pending, 0 AS credit_pending
            FROM moves WHERE kind IN ('single', 'post')
            UNION ALL
            SELECT credit_account_id, 0, amount, 0, 0 FROM moves WHERE kind IN ('single', 'post')
            UNION ALL
            SELECT debit_account_id, 0, 0, amount, 0 FROM moves WHERE open_hold
            UNION ALL
            SELECT credit_account_id, 0, 0, 0, amount FROM moves WHERE open_hold
        ), sums AS (
            SELECT account, sum(debit_posted) AS dp, sum(credit_posted) AS cp,
                   sum(debit_pending) AS dn, sum(credit_pending) AS cn
            FROM legs GROUP BY account
        )
        SELECT count(*) FROM tokens.accounts a LEFT JOIN sums s ON s.account = a.id
        WHERE a.debits_posted <> coalesce(s.dp, 0) OR a.credits_posted <> coalesce(s.cp, 0)
           OR a.debits_pending <> coalesce(s.dn, 0) OR a.credits_pending <> coalesce(s.cn, 0)
        """,
    ),
    (
        "a promo code paid other than its redemptions, or more than its budget or uses",
        """
        SELECT count(*) FROM gifts.promo_codes c
        JOIN (SELECT promo_id, sum(used) AS used, sum(paid) AS paid, sum(budget) AS budget
                FROM gifts.promo_slots GROUP BY promo_id) s ON s.promo_id = c.id
        LEFT JOIN (SELECT promo_id, count(*) AS n, sum(amount) AS amount
                     FROM gifts.promo_redemptions GROUP BY promo_id) r ON r.promo_id = c.id
        WHERE s.paid <> coalesce(r.amount, 0) OR s.used <> coalesce(r.n, 0)
           OR s.used > c.max_uses OR s.budget <> c.budget OR s.paid <> s.used * c.amount
           OR s.paid <> (SELECT coalesce(sum(t.amount), 0) FROM tokens.transfers t
                          WHERE t.code = 'promo' AND t.result = 'ok' AND t.kind = 'single'
                            AND t.metadata->>'promo_id' = c.id::text)
        """,
    ),
    (
        "a gift's shares do not sum to its amount, or a claimed share was not paid once",
        """
        SELECT count(*) FROM gifts.gifts g
        WHERE g.kind <> 'direct' AND (
            g.amount <> (SELECT sum(amount) FROM gifts.gift_shares WHERE gift_id = g.id)
            OR (SELECT count(*) FROM gifts.gift_shares
                 WHERE gift_id = g.id AND claimed_by IS NOT NULL)
               <> (SELECT count(*) FROM tokens.transfers t
                    WHERE t.code = 'gift' AND t.result = 'ok'
                      AND t.metadata->>'gift_id' = g.id::text)
            OR (g.status <> 'open' AND EXISTS (
                SELECT FROM tokens.transfers h
                 WHERE h.kind = 'pending' AND h.code = 'gift_hold' AND h.result = 'ok'
                   AND h.metadata->>'gift_id' = g.id::text
                   AND NOT EXISTS (SELECT FROM tokens.transfers r
                                    WHERE r.pending_id = h.id AND r.result = 'ok'))))
        """,
    ),
]


# Referrals (migrations 0011_purchases, 0025_reward_events). A reward is its ledger hold: each
# reward of an event is an accepted hold of its amount to its referrer, every reward hold
# belongs to an event, and an event is resolved exactly when none of its rewards is held; the
# Invite view's per-level sums are the sums of the rewards.
CHECKS += [
    (
        "a referral reward is not a hold of its amount to its referrer",
        """
        SELECT count(*) FROM referrals.rewards w
        LEFT JOIN tokens.transfers h ON h.id = w.id AND h.kind = 'pending' AND h.result = 'ok'
              AND h.code = 'referral_reward' AND h.amount = w.amount
        LEFT JOIN tokens.accounts a ON a.id = h.credit_account_id AND a.user_id = w.referrer_id
        LEFT JOIN tokens.transfers r ON r.pending_id = w.id AND r.result = 'ok'
        WHERE h.id IS NULL OR a.id IS NULL OR r.kind = 'expire'
        """,
    ),
    (
        "a referral reward hold belongs to no reward event",
        """
        SELECT count(*) FROM tokens.transfers h
        WHERE h.code = 'referral_reward' AND h.kind = 'pending' AND h.result = 'ok'
          AND NOT EXISTS (SELECT FROM referrals.rewards w WHERE w.id = h.id)
        """,
    ),
    (
        "a reward event is marked resolved while a reward is held, or not when none is",
        """
        SELECT count(*) FROM referrals.reward_events e
        WHERE (e.resolved_at IS NULL) <> EXISTS (
            SELECT FROM referrals.rewards w WHERE w.source = e.source AND w.status = 'held')
        """,
    ),
    (
        "referrals.totals differ from the sums of the rewards or the count of the links",
        """
        SELECT count(*) FROM (
            SELECT referrer_id, level,
                   sum(amount) FILTER (WHERE status = 'held') AS pending,
                   sum(amount) FILTER (WHERE status = 'posted') AS available
            FROM referrals.rewards GROUP BY referrer_id, level) s
        FULL JOIN referrals.totals t USING (referrer_id, level)
        FULL JOIN (SELECT ancestor_id AS referrer_id, depth AS level, count(*) AS referees
                   FROM referrals.links GROUP BY 1, 2) c USING (referrer_id, level)
        WHERE coalesce(s.pending, 0) <> coalesce(t.pending, 0)
           OR coalesce(s.available, 0) <> coalesce(t.available, 0)
           OR coalesce(c.referees, 0) <> coalesce(t.referees, 0)
        """,
    ),
]


# The market (migration 0014_market): fills, escrow holds and escrow accounts agree.
CHECKS += [
    (
        "a market offer's fills and remainder do not add up to what it offered",
        """
        SELECT count(*) FROM market.offers o
        LEFT JOIN (SELECT offer_id, sum(amount) AS amount, sum(paid) AS paid, count(*) AS n
                     FROM market.fills GROUP BY offer_id) f ON f.offer_id = o.id
        WHERE o.remaining + coalesce(f.amount, 0) <> o.sell_amount
           OR o.received <> coalesce(f.paid, 0) OR o.fills <> coalesce(f.n, 0)
           -- at least the ratio: received × sell >= (sell − remaining) × buy
           OR o.received * o.sell_amount < (o.sell_amount - o.remaining) * o.buy_amount
        """,
    ),
    (
        "an open market offer's escrow is not exactly one open hold of its remainder, "
        "or a closed offer still holds escrow",
        """
        WITH holds AS (
            SELECT (p.metadata ->> 'offer')::uuid AS offer_id, count(*) AS n,
                   sum(p.amount) AS amount
              FROM tokens.transfers p
             WHERE p.kind = 'pending' AND p.result = 'ok' AND p.code = 'market_offer'
               AND NOT EXISTS (SELECT FROM tokens.transfers r
                                WHERE r.pending_id = p.id AND r.result = 'ok')
             GROUP BY 1)
        SELECT count(*) FROM market.offers o LEFT JOIN holds h ON h.offer_id = o.id
        WHERE CASE WHEN o.status = 'open'
                   THEN h.n IS DISTINCT FROM 1 OR h.amount <> o.remaining
                   ELSE h.n IS NOT NULL END
        """,
    ),
    (
        "a market escrow account keeps posted funds or holds other than the open offers",
        """
        SELECT count(*) FROM (
            SELECT a.asset FROM tokens.accounts a WHERE a.kind = 'market_escrow'
             GROUP BY a.asset
            HAVING sum(a.credits_posted) <> sum(a.debits_posted)
                OR sum(a.credits_pending) <> coalesce(
                    (SELECT sum(o.remaining) FROM market.offers o
                      WHERE o.sell_asset = a.asset AND o.status = 'open'), 0)) broken
        """,
    ),
]


async def assert_invariants(owner_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(owner_url))
    try:
        for description, query in CHECKS:
            violations = await conn.fetchval(query)
            assert violations == 0, f"invariant broken: {description} ({violations} rows)"
    finally:
        await conn.close()
