"""Errors of user-to-user transfers and their confirmations."""

from __future__ import annotations

from services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientFunds,
    NotFound,
    ValidationError,
)
from services.ledger.errors import (
    AccountTotalOverflow,
    AmountTooLarge,
    DailyLimitExceeded,
    InvalidAmount,
    InvalidText,
    MetadataTooLarge,
)


class InvalidRecipient(ValidationError):
    code = "invalid_recipient"


class RecipientNotFound(NotFound):
    code = "recipient_not_found"


class AssetNotTransferable(ValidationError):
    code = "asset_not_transferable"


class SelfTransfer(ValidationError):
    code = "self_transfer"


class RecipientBanned(Forbidden):
    code = "recipient_banned"


class AmountBelowMinimum(ValidationError):
    code = "amount_below_minimum"


class MemoTooLong(ValidationError):
    code = "memo_too_long"


class InvalidMemo(ValidationError):
    code = "invalid_memo"


# A send alone in its statement that PostgreSQL refused (a NUL, a number out of range).
class InvalidRequest(ValidationError):
    code = "invalid_request"


class RequestNotFound(NotFound):
    code = "request_not_found"


class RequestExpired(Conflict):
    code = "request_expired"


class RequestAlreadyConfirmed(Conflict):
    code = "request_already_confirmed"


class RequestAlreadyCancelled(Conflict):
    code = "request_already_cancelled"


# What resolving the recipient and `send` (or the batcher) can raise for a user's transfer;
# besides, ExistsWithDifferentFields for a transfer id reused with other fields, which each
# caller explains in its own terms (the API: `idempotency_key_reused`).
SEND_ERRORS: tuple[type[DomainError], ...] = (
    InvalidRecipient,
    RecipientNotFound,
    InvalidAmount,
    AmountTooLarge,
    AssetNotTransferable,
    SelfTransfer,
    RecipientBanned,
    AmountBelowMinimum,
    MemoTooLong,
    InvalidMemo,
    InvalidText,
    MetadataTooLarge,
    InsufficientFunds,
    DailyLimitExceeded,
    AccountTotalOverflow,
    InvalidRequest,
)
