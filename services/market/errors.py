"""Errors of the market: offers, fills and cancellations."""

from __future__ import annotations

from services.errors import Conflict, DomainError, InsufficientFunds, NotFound, ValidationError
from services.ledger.errors import (
    AccountTotalOverflow,
    AmountTooLarge,
    AssetNotFound,
    InvalidAmount,
)
from services.users.errors import UserBanned


class SameAsset(ValidationError):
    code = "market_same_asset"


class AssetNotTradable(ValidationError):
    code = "asset_not_tradable"


class InvalidMinFill(ValidationError):
    code = "invalid_min_fill"


class TooManyOpenOffers(Conflict):
    code = "too_many_open_offers"


class OfferNotFound(NotFound):
    code = "offer_not_found"


class OfferNotOpen(Conflict):
    code = "offer_not_open"


class SelfTrade(ValidationError):
    code = "self_trade"


class FillExceedsOffer(Conflict):
    code = "fill_exceeds_offer"


class FillBelowMinimum(ValidationError):
    code = "fill_below_minimum"


class MakerBanned(Conflict):
    """The offer's maker is banned: it cannot be filled (it is being, or was, cancelled)."""

    code = "offer_maker_banned"


# What creating an offer can raise (the ledger's refusal included).
CREATE_ERRORS: tuple[type[DomainError], ...] = (
    AssetNotFound,
    SameAsset,
    AssetNotTradable,
    InvalidAmount,
    AmountTooLarge,
    InvalidMinFill,
    TooManyOpenOffers,
    InsufficientFunds,
)
# What filling an offer can raise.
FILL_ERRORS: tuple[type[DomainError], ...] = (
    InvalidAmount,
    OfferNotFound,
    OfferNotOpen,
    SelfTrade,
    FillExceedsOffer,
    FillBelowMinimum,
    MakerBanned,
    UserBanned,
    InsufficientFunds,
    AccountTotalOverflow,
)
CANCEL_ERRORS: tuple[type[DomainError], ...] = (OfferNotFound, OfferNotOpen)
