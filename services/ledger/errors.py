"""Ledger result codes as domain errors: the SQL function answers, this module names the class."""

from __future__ import annotations

from services.errors import Conflict, DomainError, InsufficientFunds, NotFound, ValidationError

# Result codes of tokens.create_transfers that mean success.
SUCCESS = frozenset({"ok", "exists"})

_NOT_FOUND = frozenset({"account_not_found", "pending_transfer_not_found"})
_CONFLICT = frozenset(
    {
        "exists_with_different_fields",
        "pending_transfer_not_pending",
        "pending_transfer_already_posted",
        "pending_transfer_already_voided",
        "pending_transfer_expired",
        "pending_transfer_not_expired",
        "daily_limit_exceeded",
        "linked_event_failed",
        "supply_exceeded",
        "account_total_overflow",
    }
)
# Everything else the function can answer is a malformed request.
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
    """The domain error for a failure code of tokens.create_transfers."""
    message = _MESSAGES.get(result, result.replace("_", " "))
    if result == "insufficient_funds":
        return InsufficientFunds(message, code=result, **details)
    if result in _NOT_FOUND:
        return NotFound(message, code=result, **details)
    if result in _CONFLICT:
        return Conflict(message, code=result, **details)
    return ValidationError(message, code=result, **details)


def first_failure(results: list[str]) -> str | None:
    """The code that explains a failed batch: the first one that is not a linked consequence."""
    failures = [r for r in results if r not in SUCCESS]
    if not failures:
        return None
    causes = [r for r in failures if r != "linked_event_failed"]
    return (causes or failures)[0]
