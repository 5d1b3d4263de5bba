"""Offers, fills and cancellations: each one transaction, the offer row decided first.

Every money movement is one linked ledger batch in the same transaction as the offer's row:

- create: a hold from the maker's wallet to a `market_escrow` account for `sell_amount`;
- fill: post the hold for `amount` (the rest is released) and hold the new remainder again
  (a hold resolves once), move `amount - fee` from the escrow to the taker and `fee` to the
  platform's fees, and `paid` from the taker to the maker;
- cancel and expiry: void the hold.

The offer row is changed by one `UPDATE … WHERE <every rule> RETURNING`: concurrent fills and
a cancel queue on the row, and each re-checks the rules on the row as the one before left it
(Read Committed re-evaluates the WHERE), so fills never exceed the offer and a cancel and a
fill cannot both have the escrow. A ledger refusal (the taker cannot pay) raises, and the
whole transaction, the row's change included, rolls back.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import Row

from db.database import ServiceTx
from db.models import User
from services.ledger.amounts import format_amount
from services.ledger.errors import (
    ExistsWithDifferentFields,
    InvalidAmount,
    first_failure,
    ledger_error,
)
from services.ledger.limits import check_amount
from services.ledger.schemas import Asset, ResolveHold, Transfer
from services.ledger.service import (
    AssetRegistry,
    apply,
    batch_json,
    system_account,
    transfer_id,
    user_account,
)
from services.market.config import MarketRules
from services.market.errors import (
    AssetNotTradable,
    FillBelowMinimum,
    FillExceedsOffer,
    InvalidMinFill,
    MakerBanned,
    OfferNotFound,
    OfferNotOpen,
    SameAsset,
    SelfTrade,
    TooManyOpenOffers,
)
from services.market.pricing import FillTerms, fill_terms
from services.market.schemas import FillOut, OfferOut
from services.transfers.service import FEE_SHARDS
from services.users.errors import UserBanned
from services.validation import InvalidCursor

OFFER_CODE = "market_offer"
FILL_CODE = "market_fill"
PAY_CODE = "market_pay"
FEE_CODE = "market_fee"
FILLED_TEMPLATE = "market.filled_notice"
# Every offer and fill of an asset touches its escrow: spread over shards (by offer), it is
# not one row that the whole market queues for.
ESCROW_SHARDS = 64

_COLUMNS = (
    "o.id, o.maker_id, o.sell_asset, o.buy_asset, o.sell_amount, o.buy_amount, o.min_fill,"
    " o.remaining, o.received, o.fills, o.status, o.price_key, o.created_at, o.expires_at,"
    " o.closed_at"
)

# The key is db.locks.MARKET_MAKERS, written as a literal (tests/unit/test_advisory_locks.py).
_LOCK_MAKER = text("SELECT pg_advisory_xact_lock(7170932, hashtext(CAST(:maker AS text)))")
_OPEN_COUNT = text(
    "SELECT count(*) FROM market.offers"
    " WHERE maker_id = :maker AND status = 'open' AND expires_at > now()"
)
_INSERT_OFFER = text(
    f"""
    INSERT INTO market.offers AS o (id, maker_id, sell_asset, buy_asset, sell_amount,
                                   buy_amount, min_fill, remaining, expires_at)
    VALUES (:id, :maker, :sell_asset, :buy_asset, :sell_amount, :buy_amount, :min_fill,
            :sell_amount, now() + make_interval(secs => :ttl))
    ON CONFLICT (id) DO NOTHING
    RETURNING {_COLUMNS}
    """
)
_OFFER = text(f"SELECT {_COLUMNS} FROM market.offers o WHERE o.id = :id")
_BANNED = text("SELECT id FROM auth.users WHERE id = ANY(:ids) AND banned_at IS NOT NULL")

# Every rule of a fill in the WHERE: the decision is this one statement, taken on the row as
# the previous fill or cancel left it.
_TAKE = text(
    f"""
    UPDATE market.offers o
       SET remaining = o.remaining - :amount,
           -- ceil(amount × buy / sell) in integers: numeric division would round.
           received = o.received + div(CAST(:amount AS numeric) * o.buy_amount
                                       + o.sell_amount - 1, o.sell_amount),
           fills = o.fills + 1,
           status = CASE WHEN o.remaining = :amount THEN 'filled' ELSE 'open' END,
           closed_at = CASE WHEN o.remaining = :amount THEN now() END
      FROM auth.users u
     WHERE o.id = :id AND u.id = o.maker_id AND o.status = 'open' AND o.expires_at > now()
       -- Neither side banned: a ban committed before this statement refuses it; one racing it
       -- closes the offer after this fill (the ban's close waits for this row).
       AND u.banned_at IS NULL
       AND NOT EXISTS (SELECT FROM auth.users t WHERE t.id = :taker AND t.banned_at IS NOT NULL)
       AND o.maker_id <> :taker AND o.remaining >= :amount
       AND (:amount >= o.min_fill OR :amount = o.remaining)
    RETURNING {_COLUMNS}, u.telegram_id AS maker_chat
    """
)
# The fill's ledger batch, its record, the realtime events of both sides and the maker's
# notice: one statement. The record and what follows it are written only if the batch applied
# and the fill id is new (an empty `f`: a replay, FillRaced). The events go straight into the
# log without a NOTIFY (listeners poll it every 100 ms): a notifying transaction holds the
# server's notify-queue lock through its commit, which would serialise fills (migration
# 0010_realtime).
_APPLY_FILL = text(
    """
    WITH r AS MATERIALIZED (
        SELECT tokens.create_transfers(CAST(:batch AS jsonb), true) AS results
    ), f AS (
        INSERT INTO market.fills (id, offer_id, seq, taker_id, amount, fee, paid,
                                  offer_remaining)
        SELECT :id, :offer_id, :seq, :taker, :amount, :fee, :paid, :remaining
          FROM r WHERE r.results[1] = 'ok'
        ON CONFLICT (id) DO NOTHING
        RETURNING created_at
    ), e AS (
        INSERT INTO ops.events (user_id, channel, type, data)
        SELECT x.user_id, 'user', 'trade', x.data
          FROM f, jsonb_to_recordset(CAST(:events AS jsonb)) AS x(user_id uuid, data jsonb)
    )
    SELECT r.results, f.created_at, (SELECT ops.enqueue(CAST(:notices AS jsonb)) FROM f) AS n
      FROM r LEFT JOIN f ON true
    """
)
_FILL = text(
    """
    SELECT f.id, f.offer_id, f.taker_id, f.amount, f.fee, f.paid, f.offer_remaining,
           f.created_at, o.sell_asset, o.buy_asset
      FROM market.fills f JOIN market.offers o ON o.id = f.offer_id
     WHERE f.id = :id
    """
)
_CANCEL = text(
    f"""
    UPDATE market.offers o SET status = 'cancelled', closed_at = now()
     WHERE o.id = :id AND o.maker_id = :maker AND o.status = 'open'
    RETURNING {_COLUMNS}
    """
)
_BOOK = text(
    f"""
    SELECT {_COLUMNS} FROM market.offers o
     WHERE o.sell_asset = :sell AND o.buy_asset = :buy AND o.status = 'open'
       AND o.expires_at > now()
       AND (CAST(:after_key AS numeric) IS NULL
            OR (o.price_key, o.created_at, o.id)
               > (CAST(:after_key AS numeric), CAST(:after_at AS timestamptz),
                  CAST(:after_id AS uuid)))
     ORDER BY o.price_key, o.created_at, o.id
     LIMIT :limit
    """
)
_MINE = text(
    f"""
    SELECT {_COLUMNS} FROM market.offers o
     WHERE o.maker_id = :maker
       AND (CAST(:status AS text) IS NULL OR o.status = CAST(:status AS text))
       AND (CAST(:before_at AS timestamptz) IS NULL
            OR (o.created_at, o.id) < (CAST(:before_at AS timestamptz), CAST(:before_id AS uuid)))
     ORDER BY o.created_at DESC, o.id DESC
     LIMIT :limit
    """
)

_PAIRS = text(
    """
    SELECT sell_asset, buy_asset, count(*) AS offers FROM market.offers
     WHERE status = 'open' AND expires_at > now()
     GROUP BY sell_asset, buy_asset
     ORDER BY offers DESC, sell_asset, buy_asset
     LIMIT :limit
    """
)


class FillRaced(Exception):
    """This fill id is already recorded (a replay, or a twin that committed first): the
    caller rolls back what this transaction did and answers the recorded fill."""


def hold_id(offer_id: UUID, seq: int) -> UUID:
    """The offer's hold after `seq` fills."""
    return transfer_id("market_hold", offer_id, seq)


def escrow_account(offer_id: UUID) -> str:
    return system_account("market_escrow", shard=offer_id.int % ESCROW_SHARDS)


def check_tradable(sell: Asset, buy: Asset) -> None:
    """Raises ValidationError (market_same_asset, asset_not_tradable)."""
    if sell.code == buy.code:
        raise SameAsset("an offer must sell one asset for another", asset=sell.code)
    for asset in (sell, buy):
        if not asset.transferable:
            raise AssetNotTradable("this asset cannot be traded", asset=asset.code)


def offer_out(row: Row[Any], assets: dict[str, Asset], viewer_id: UUID | None) -> OfferOut:
    return OfferOut(
        id=row.id,
        sell_asset=row.sell_asset,
        sell_decimals=assets[row.sell_asset].decimals,
        buy_asset=row.buy_asset,
        buy_decimals=assets[row.buy_asset].decimals,
        sell_amount=str(int(row.sell_amount)),
        buy_amount=str(int(row.buy_amount)),
        remaining=str(int(row.remaining)),
        min_fill=str(int(row.min_fill)),
        received=str(int(row.received)),
        fills=row.fills,
        status=row.status,
        mine=row.maker_id == viewer_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        closed_at=row.closed_at,
    )


async def create_offer(
    session: ServiceTx,
    rules: MarketRules,
    registry: AssetRegistry,
    *,
    maker: User,
    offer_id: UUID,
    sell: Asset,
    buy: Asset,
    sell_amount: int,
    buy_amount: int,
    min_fill: int | None = None,
) -> OfferOut:
    """Open an offer and escrow `sell_amount`. `offer_id` derives from the cause: a replay
    answers the offer it made.

    Raises ValidationError (market_same_asset, asset_not_tradable, invalid_amount,
    amount_too_large, invalid_min_fill), Conflict (too_many_open_offers,
    exists_with_different_fields: the id made another offer), InsufficientFunds.
    """
    check_tradable(sell, buy)
    check_amount(sell, sell_amount)
    check_amount(buy, buy_amount)
    minimum = 1 if min_fill is None else min_fill
    if minimum <= 0 or minimum > sell_amount:
        raise InvalidMinFill("min_fill must be between 1 and the amount offered")
    assets = await registry.all(session)
    fields = {
        "maker": maker.id,
        "sell_asset": sell.code,
        "buy_asset": buy.code,
        "sell_amount": sell_amount,
        "buy_amount": buy_amount,
        "min_fill": minimum,
    }
    await session.execute(_LOCK_MAKER, {"maker": str(maker.id)})
    existing = (await session.execute(_OFFER, {"id": offer_id})).one_or_none()
    if existing is not None:
        return _replayed_offer(existing, fields, assets)
    open_count = int(await session.scalar(_OPEN_COUNT, {"maker": maker.id}) or 0)
    if open_count >= rules.max_open_offers:
        raise TooManyOpenOffers("too many open offers", max=rules.max_open_offers)
    row = (
        await session.execute(_INSERT_OFFER, {"id": offer_id, "ttl": rules.offer_ttl, **fields})
    ).one_or_none()
    if row is None:
        # The same id from another maker got there in between (one maker's calls queue on
        # the lock above and find it before inserting).
        raise ExistsWithDifferentFields("this offer id made another offer")
    await apply(
        session,
        [
            Transfer(
                id=hold_id(offer_id, 0),
                debit=user_account(maker.id),
                credit=escrow_account(offer_id),
                asset=sell.code,
                amount=sell_amount,
                code=OFFER_CODE,
                metadata={"offer": str(offer_id)},
                kind="pending",
            )
        ],
    )
    return offer_out(row, assets, maker.id)


def _replayed_offer(row: Row[Any], fields: dict[str, Any], assets: dict[str, Asset]) -> OfferOut:
    stored = {
        "maker": row.maker_id,
        "sell_asset": row.sell_asset,
        "buy_asset": row.buy_asset,
        "sell_amount": int(row.sell_amount),
        "buy_amount": int(row.buy_amount),
        "min_fill": int(row.min_fill),
    }
    if stored != fields:
        raise ExistsWithDifferentFields("this offer id made another offer")
    return offer_out(row, assets, row.maker_id)


async def fill_offer(
    session: ServiceTx,
    rules: MarketRules,
    registry: AssetRegistry,
    *,
    taker: User,
    fill_id: UUID,
    offer_id: UUID,
    amount: int,
) -> FillOut:
    """Take `amount` sell units of the offer, paying ceil(amount × buy / sell). `fill_id`
    derives from the cause: a replay answers the first fill.

    Raises NotFound(offer_not_found), Conflict (offer_not_open, fill_exceeds_offer,
    offer_maker_banned, exists_with_different_fields, account_total_overflow),
    Forbidden(user_banned: the taker), ValidationError (self_trade,
    fill_below_minimum, invalid_amount), InsufficientFunds (the taker cannot pay), FillRaced
    (the same fill id committed meanwhile: the caller rolls back and reads it).
    """
    if type(amount) is not int or amount <= 0:
        raise InvalidAmount("amount must be a positive integer")
    assets = await registry.all(session)
    row = (
        await session.execute(_TAKE, {"id": offer_id, "taker": taker.id, "amount": amount})
    ).one_or_none()
    if row is None:
        # A replay after the offer closed; one while it is open takes it again here and
        # finds its id taken when recording (FillRaced): no read up front on the hot path.
        replay = await find_fill(session, fill_id)
        if replay is not None:
            return replayed_fill(replay, assets, taker, offer_id, amount)
        raise await _refusal(session, offer_id, taker, amount)
    sell, buy = assets[row.sell_asset], assets[row.buy_asset]
    sell_amount, buy_amount = int(row.sell_amount), int(row.buy_amount)
    terms = fill_terms(amount, sell=sell_amount, buy=buy_amount, fee_bps=rules.fee_bps)
    remaining, seq = int(row.remaining), int(row.fills)
    legs = _fill_legs(offer_id, row.maker_id, taker.id, fill_id, seq, sell, buy, terms, remaining)
    created_at = await _apply_fill(session, row, taker, fill_id, seq, terms, sell, buy, legs)
    return FillOut(
        id=fill_id,
        offer_id=offer_id,
        sell_asset=sell.code,
        sell_decimals=sell.decimals,
        buy_asset=buy.code,
        buy_decimals=buy.decimals,
        amount=str(terms.amount),
        fee=str(terms.fee),
        received=str(terms.received),
        paid=str(terms.paid),
        offer_remaining=str(remaining),
        offer_status=row.status,
        created_at=created_at,
    )


def _fill_legs(
    offer_id: UUID,
    maker_id: UUID,
    taker_id: UUID,
    fill_id: UUID,
    seq: int,
    sell: Asset,
    buy: Asset,
    terms: FillTerms,
    remaining: int,
) -> list[Transfer | ResolveHold]:
    """The fill as one linked batch; ids derive from (offer, seq): the offer's n-th fill."""
    escrow, meta = escrow_account(offer_id), {"offer": str(offer_id), "fill": str(fill_id)}
    legs: list[Transfer | ResolveHold] = [
        ResolveHold(
            id=transfer_id("market_post", offer_id, seq),
            pending_id=hold_id(offer_id, seq - 1),
            kind="post",
            amount=terms.amount,
            metadata=meta,
        ),
        Transfer(
            id=transfer_id("market_deliver", offer_id, seq),
            debit=escrow,
            credit=user_account(taker_id),
            asset=sell.code,
            amount=terms.received,
            code=FILL_CODE,
            metadata=meta,
        ),
        Transfer(
            id=transfer_id("market_pay", offer_id, seq),
            debit=user_account(taker_id),
            credit=user_account(maker_id),
            asset=buy.code,
            amount=terms.paid,
            code=PAY_CODE,
            metadata=meta,
        ),
    ]
    if terms.fee > 0:
        legs.append(
            Transfer(
                id=transfer_id("market_fee", offer_id, seq),
                debit=escrow,
                credit=system_account("fees", shard=fill_id.int % FEE_SHARDS),
                asset=sell.code,
                amount=terms.fee,
                code=FEE_CODE,
                metadata=meta,
            )
        )
    if remaining > 0:
        # The rest stays escrowed: the post above released it, this holds it again.
        legs.append(
            Transfer(
                id=hold_id(offer_id, seq),
                debit=user_account(maker_id),
                credit=escrow,
                asset=sell.code,
                amount=remaining,
                code=OFFER_CODE,
                metadata={"offer": str(offer_id)},
                kind="pending",
            )
        )
    return legs


async def _apply_fill(
    session: ServiceTx,
    row: Row[Any],
    taker: User,
    fill_id: UUID,
    seq: int,
    terms: FillTerms,
    sell: Asset,
    buy: Asset,
    legs: list[Transfer | ResolveHold],
) -> datetime:
    """Raises the ledger's refusal (the caller's transaction then rolls back what it stored),
    or FillRaced when this fill id is already recorded."""
    trade = {
        "offer_id": str(row.id),
        "fill_id": str(fill_id),
        "sell_asset": sell.code,
        "buy_asset": buy.code,
        "amount": str(terms.amount),
        "paid": str(terms.paid),
        "fee": str(terms.fee),
        "offer_remaining": str(int(row.remaining)),
    }
    events = [
        {"user_id": str(row.maker_id), "data": {**trade, "side": "maker"}},
        {"user_id": str(taker.id), "data": {**trade, "side": "taker"}},
    ]
    notices = [
        {
            "chat_id": row.maker_chat,
            "user_id": str(row.maker_id),
            "template": FILLED_TEMPLATE,
            "params": {
                "amount": format_amount(terms.amount, sell.decimals),
                "sell_asset": sell.code,
                "paid": format_amount(terms.paid, buy.decimals),
                "buy_asset": buy.code,
                "remaining": format_amount(int(row.remaining), sell.decimals),
            },
            "dedup_key": f"market_fill:{fill_id}",
        }
    ]
    outcome = (
        await session.execute(
            _APPLY_FILL,
            {
                "batch": batch_json(legs),
                "id": fill_id,
                "offer_id": row.id,
                "seq": seq,
                "taker": taker.id,
                "amount": terms.amount,
                "fee": terms.fee,
                "paid": terms.paid,
                "remaining": int(row.remaining),
                "events": json.dumps(events),
                "notices": json.dumps(notices),
            },
        )
    ).one()
    failure = first_failure(list(outcome.results))
    if failure is not None:
        # A replay whose taker can no longer pay still answers the fill it made.
        if await find_fill(session, fill_id) is not None:
            raise FillRaced(str(fill_id))
        raise ledger_error(failure)
    if outcome.created_at is None:
        raise FillRaced(str(fill_id))
    created_at: datetime = outcome.created_at
    return created_at


async def _refusal(session: ServiceTx, offer_id: UUID, taker: User, amount: int) -> Exception:
    """Why the fill's UPDATE matched no row, read afterwards: the offer only ever moves away
    from a fill (less remaining, closed), so what refused it then still holds now."""
    row = (await session.execute(_OFFER, {"id": offer_id})).one_or_none()
    if row is None:
        return OfferNotFound("no such offer")
    if row.maker_id == taker.id:
        return SelfTrade("you cannot fill your own offer")
    banned = set((await session.scalars(_BANNED, {"ids": [row.maker_id, taker.id]})).all())
    if taker.id in banned:
        return UserBanned("banned users cannot trade")
    if row.maker_id in banned:
        # Before or after the ban closed the offer: the reason that stays true.
        return MakerBanned("this offer's maker is banned; it cannot be filled")
    if row.status != "open" or row.expires_at <= await _now(session):
        return OfferNotOpen("the offer is no longer open", status=_closed_status(row))
    remaining, minimum = int(row.remaining), int(row.min_fill)
    if amount > remaining:
        return FillExceedsOffer("more than the offer has left", remaining=str(remaining))
    if amount < minimum and amount != remaining:
        return FillBelowMinimum(
            "less than the offer's minimum fill", min_fill=str(minimum), remaining=str(remaining)
        )
    # The last fill left exactly this amount meanwhile: asking again would take it.
    return FillExceedsOffer("the offer changed; try again", remaining=str(remaining))


def _closed_status(row: Row[Any]) -> str:
    return "expired" if row.status == "open" else str(row.status)


async def _now(session: ServiceTx) -> datetime:
    value: datetime = await session.scalar(text("SELECT now()"))
    return value


async def find_fill(session: ServiceTx, fill_id: UUID) -> Row[Any] | None:
    return (await session.execute(_FILL, {"id": fill_id})).one_or_none()


def replayed_fill(
    row: Row[Any], assets: dict[str, Asset], taker: User, offer_id: UUID, amount: int
) -> FillOut:
    if (row.taker_id, row.offer_id, int(row.amount)) != (taker.id, offer_id, amount):
        raise ExistsWithDifferentFields("this fill id made another fill")
    return fill_out(row, assets)


def fill_out(row: Row[Any], assets: dict[str, Asset]) -> FillOut:
    remaining = int(row.offer_remaining)
    return FillOut(
        id=row.id,
        offer_id=row.offer_id,
        sell_asset=row.sell_asset,
        sell_decimals=assets[row.sell_asset].decimals,
        buy_asset=row.buy_asset,
        buy_decimals=assets[row.buy_asset].decimals,
        amount=str(int(row.amount)),
        fee=str(int(row.fee)),
        received=str(int(row.amount) - int(row.fee)),
        paid=str(int(row.paid)),
        offer_remaining=str(remaining),
        offer_status="filled" if remaining == 0 else "open",
        created_at=row.created_at,
    )


async def cancel_offer(
    session: ServiceTx, registry: AssetRegistry, *, maker: User, offer_id: UUID
) -> OfferOut:
    """Close the maker's open offer and return its unfilled escrow (`remaining`).

    Raises NotFound(offer_not_found: none, or another user's), Conflict(offer_not_open).
    """
    assets = await registry.all(session)
    row = (await session.execute(_CANCEL, {"id": offer_id, "maker": maker.id})).one_or_none()
    if row is None:
        found = (await session.execute(_OFFER, {"id": offer_id})).one_or_none()
        if found is None or found.maker_id != maker.id:
            raise OfferNotFound("no such offer")
        raise OfferNotOpen("the offer is no longer open", status=found.status)
    await apply(session, [cancel_void(offer_id, row.fills)])
    return offer_out(row, assets, maker.id)


# A banned maker's open offers, closed as a cancel closes one. `FOR UPDATE` (no SKIP) for one
# maker: the ban waits for fills under way and closes what they leave; the job, over every
# banned maker, skips rows in use and closes them on a later run.
_BANNED_OFFERS = """
    WITH due AS (
        SELECT o.id FROM auth.users u JOIN market.offers o ON o.maker_id = u.id
         WHERE u.banned_at IS NOT NULL AND o.status = 'open' {maker}
         ORDER BY o.id LIMIT :limit FOR UPDATE OF o {skip}
    )
    UPDATE market.offers o SET status = 'cancelled', closed_at = now()
      FROM due WHERE o.id = due.id AND o.status = 'open'
    RETURNING o.id, o.fills
"""
_CLOSE_MAKER = text(_BANNED_OFFERS.format(maker="AND u.id = :maker", skip=""))
_CLOSE_BANNED = text(_BANNED_OFFERS.format(maker="", skip="SKIP LOCKED"))


def cancel_void(offer_id: UUID, fills: int, **metadata: str) -> ResolveHold:
    """The void of a closed offer's escrow: one id per offer, whoever closes it."""
    return ResolveHold(
        id=transfer_id("market_cancel", offer_id),
        pending_id=hold_id(offer_id, fills),
        kind="void",
        metadata={"offer": str(offer_id), **metadata},
    )


async def close_banned_offers(
    session: ServiceTx, *, maker_id: UUID | None = None, limit: int = 1000
) -> int:
    """Cancel the open offers of banned makers (of `maker_id` only, when given) and return their
    escrow; how many it closed. Idempotent: a closed offer no longer matches."""
    params: dict[str, object] = {"limit": limit, "maker": maker_id}
    query = _CLOSE_BANNED if maker_id is None else _CLOSE_MAKER
    rows = (await session.execute(query, params)).all()
    if rows:
        await apply(session, [cancel_void(r.id, r.fills, reason="maker_banned") for r in rows])
    return len(rows)


@dataclass(frozen=True)
class OfferPage:
    items: list[OfferOut]
    next_cursor: str | None


def _encode(*parts: object) -> str:
    raw = "|".join(str(p) for p in parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, count: int) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("cursor is not valid") from None
    parts = raw.split("|")
    if len(parts) != count:
        raise InvalidCursor("cursor is not valid")
    return parts


def _cursor_time(value: str) -> datetime:
    """An aware time a UTC `datetime` (and so the driver) can hold: `0001-01-01T00:00:00+14:00`
    in a forged cursor is not one."""
    try:
        if not value.isascii():
            raise ValueError("not ASCII")
        at = datetime.fromisoformat(value)
        if at.tzinfo is None:
            raise ValueError("no offset")
        return at.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidCursor("cursor is not valid") from None


def _cursor_id(value: str) -> UUID:
    # UUID() takes fullwidth digits and braces too; ours are written as str(UUID).
    if not value.isascii():
        raise InvalidCursor("cursor is not valid")
    try:
        return UUID(value)
    except ValueError:
        raise InvalidCursor("cursor is not valid") from None


async def book(
    session: ServiceTx,
    registry: AssetRegistry,
    *,
    viewer_id: UUID | None,
    sell: Asset,
    buy: Asset,
    cursor: str | None = None,
    limit: int = 20,
) -> OfferPage:
    """Open offers selling `sell` for `buy`, best first (least `buy` asked per `sell`), then
    oldest first. Raises ValidationError(invalid_cursor)."""
    after: dict[str, Any] = {"after_key": None, "after_at": None, "after_id": None}
    if cursor:
        key, at, ident = _decode(cursor, 3)
        if not key.isascii() or not key.isdigit() or len(key) > 130:
            raise InvalidCursor("cursor is not valid")
        after = {"after_key": int(key), "after_at": _cursor_time(at), "after_id": _cursor_id(ident)}
    rows = (
        await session.execute(
            _BOOK, {"sell": sell.code, "buy": buy.code, "limit": limit + 1, **after}
        )
    ).all()
    assets = await registry.all(session)
    items = [offer_out(r, assets, viewer_id) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode(int(last.price_key), last.created_at.isoformat(), last.id)
    return OfferPage(items, next_cursor)


async def my_offers(
    session: ServiceTx,
    registry: AssetRegistry,
    *,
    maker_id: UUID,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> OfferPage:
    """The maker's offers, newest first. Raises ValidationError(invalid_cursor)."""
    before_at, before_id = None, None
    if cursor:
        at, ident = _decode(cursor, 2)
        before_at, before_id = _cursor_time(at), _cursor_id(ident)
    rows = (
        await session.execute(
            _MINE,
            {
                "maker": maker_id,
                "status": status,
                "before_at": before_at,
                "before_id": before_id,
                "limit": limit + 1,
            },
        )
    ).all()
    assets = await registry.all(session)
    items = [offer_out(r, assets, maker_id) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode(last.created_at.isoformat(), last.id)
    return OfferPage(items, next_cursor)


async def open_pairs(session: ServiceTx, *, limit: int = 20) -> list[tuple[str, str, int]]:
    """(sell asset, buy asset, open offers) of the busiest books."""
    rows = (await session.execute(_PAIRS, {"limit": limit})).all()
    return [(r.sell_asset, r.buy_asset, int(r.offers)) for r in rows]


async def get_offer(
    session: ServiceTx, registry: AssetRegistry, *, viewer_id: UUID | None, offer_id: UUID
) -> OfferOut:
    """Any offer by id, open or closed. Raises NotFound(offer_not_found)."""
    row = (await session.execute(_OFFER, {"id": offer_id})).one_or_none()
    if row is None:
        raise OfferNotFound("no such offer")
    return offer_out(row, await registry.all(session), viewer_id)
