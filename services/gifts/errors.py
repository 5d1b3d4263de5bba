"""Errors of gifts."""

from __future__ import annotations

from services.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError


# Unknown secret, expired, cancelled or already claimed: one answer, so that a guessed or
# stale link tells nothing about which gifts exist.
class GiftUnavailable(Conflict):
    code = "gift_unavailable"


class GiftAlreadyClaimed(Conflict):
    code = "gift_already_claimed"


class GiftNotForYou(Forbidden):
    code = "gift_not_for_you"


class OwnGift(ValidationError):
    code = "own_gift"


class GiftNotFound(NotFound):
    code = "gift_not_found"


class GiftNotCancellable(Conflict):
    code = "gift_not_cancellable"


class InvalidShares(ValidationError):
    code = "invalid_shares"


class InvalidGift(ValidationError):
    code = "invalid_gift"


class ShareUnavailable(DomainError):
    """No bot to prepare a message with (the API runs without BOT_TOKEN), or Telegram refused:
    the Mini App falls back to inline mode or copying the link."""

    code = "share_unavailable"
    status = 503
