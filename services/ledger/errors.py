"""Ledger errors, and the result codes of tokens.create_transfers named as those errors."""

from __future__ import annotations

from services.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InsufficientFunds,
    NotFound,
    ValidationError,
)

# Result codes of tokens.create_transfers that mean success.
SUCCESS = frozenset({"ok", "exists"})


# Raised by the Python side of the ledger.
class InvalidAmount(ValidationError):
    code = "invalid_amount"


class AmountTooLarge(ValidationError):
    code = "amount_too_large"


class TooManyDecimals(ValidationError):
    code = "too_many_decimals"


class InvalidText(ValidationError):
    code = "invalid_text"


class AssetNotFound(NotFound):
    code = "asset_not_found"


class AdminOnly(Forbidden):
    code = "admin_only"


# Answered by tokens.create_transfers.
class AccountNotFound(NotFound):
    code = "account_not_found"


class PendingTransferNotFound(NotFound):
    code = "pending_transfer_not_found"


class ExistsWithDifferentFields(Conflict):
    code = "exists_with_different_fields"


class PendingTransferNotPending(Conflict):
    code = "pending_transfer_not_pending"


class PendingTransferAlreadyPosted(Conflict):
    code = "pending_transfer_already_posted"


class PendingTransferAlreadyVoided(Conflict):
    code = "pending_transfer_already_voided"


class PendingTransferExpired(Conflict):
    code = "pending_transfer_expired"


class PendingTransferNotExpired(Conflict):
    code = "pending_transfer_not_expired"


class DailyLimitExceeded(Conflict):
    code = "daily_limit_exceeded"


class LinkedEventFailed(Conflict):
    code = "linked_event_failed"


class SupplyExceeded(Conflict):
    code = "supply_exceeded"


class AccountTotalOverflow(Conflict):
    code = "account_total_overflow"


class ExceedsPendingTransferAmount(ValidationError):
    code = "exceeds_pending_transfer_amount"


class AssetsDiffer(ValidationError):
    code = "assets_differ"


class AccountsMustBeDifferent(ValidationError):
    code = "accounts_must_be_different"


class AccountsRequired(ValidationError):
    code = "accounts_required"


class AmountMustBeInteger(ValidationError):
    code = "amount_must_be_integer"


class AmountMustBePositive(ValidationError):
    code = "amount_must_be_positive"


class CodeRequired(ValidationError):
    code = "code_required"


class InvalidKind(ValidationError):
    code = "invalid_kind"


class MetadataMustBeObject(ValidationError):
    code = "metadata_must_be_object"


class MetadataTooLarge(ValidationError):
    code = "metadata_too_large"


class PendingIdMustBeNull(ValidationError):
    code = "pending_id_must_be_null"


class PendingIdRequired(ValidationError):
    code = "pending_id_required"


class TimeoutReservedForPendingTransfer(ValidationError):
    code = "timeout_reserved_for_pending_transfer"


# Every failure code tokens.create_transfers can answer (tests/unit/test_error_texts.py
# checks this against the migrations), mapped to its class.
RESULT_ERRORS: dict[str, type[DomainError]] = {
    cls.code: cls
    for cls in (
        InsufficientFunds,
        AmountTooLarge,
        AccountNotFound,
        PendingTransferNotFound,
        ExistsWithDifferentFields,
        PendingTransferNotPending,
        PendingTransferAlreadyPosted,
        PendingTransferAlreadyVoided,
        PendingTransferExpired,
        PendingTransferNotExpired,
        DailyLimitExceeded,
        LinkedEventFailed,
        SupplyExceeded,
        AccountTotalOverflow,
        ExceedsPendingTransferAmount,
        AssetsDiffer,
        AccountsMustBeDifferent,
        AccountsRequired,
        AmountMustBeInteger,
        AmountMustBePositive,
        CodeRequired,
        InvalidKind,
        MetadataMustBeObject,
        MetadataTooLarge,
        PendingIdMustBeNull,
        PendingIdRequired,
        TimeoutReservedForPendingTransfer,
    )
}

_MESSAGES = {
    "insufficient_funds": "not enough funds",
    "account_not_found": "account not found",
    "pending_transfer_not_found": "hold not found",
    "exists_with_different_fields": "a transfer with this id exists with different fields",
    "pending_transfer_not_pending": "the referenced transfer is not a hold",
    "pending_transfer_already_posted": "the hold is already posted",
    "pending_transfer_already_voided": "the hold is already voided",
    "pending_transfer_expired": "the hold has expired",
    "pending_transfer_not_expired": "the hold has not expired yet",
    "daily_limit_exceeded": "the daily limit is reached",
    "linked_event_failed": "another transfer of the batch failed",
    "exceeds_pending_transfer_amount": "more than the hold reserved",
    "assets_differ": "the hold is in another asset",
    "accounts_must_be_different": "debit and credit accounts are the same",
    "amount_too_large": "the amount is above the asset's maximum per transfer",
    "supply_exceeded": "this would take the asset's supply above its maximum",
    "account_total_overflow": "an account's totals cannot grow by this amount",
}


def ledger_error(result: str, **details: object) -> DomainError:
    """The domain error for a failure code of tokens.create_transfers.

    A code this module does not know (a newer function than this code) is a ValidationError
    that carries the code as `details["result"]`.
    """
    message = _MESSAGES.get(result, result.replace("_", " "))
    cls = RESULT_ERRORS.get(result)
    if cls is None:
        return ValidationError(message, result=result, **details)
    return cls(message, **details)


def first_failure(results: list[str]) -> str | None:
    """The code that explains a failed batch: the first one that is not a linked consequence."""
    failures = [r for r in results if r not in SUCCESS]
    if not failures:
        return None
    causes = [r for r in failures if r != "linked_event_failed"]
    return (causes or failures)[0]
