"""Errors of promo codes."""

from __future__ import annotations

from services.errors import Conflict, NotFound, ValidationError


# Unknown, inactive, expired, used up, already redeemed by this user or not open to them: one
# answer, so that trying codes tells an attacker nothing about which exist.
class PromoUnavailable(Conflict):
    code = "promo_unavailable"


class InvalidPromoCode(ValidationError):
    code = "invalid_promo_code"


class PromoCodeTaken(Conflict):
    code = "promo_code_taken"


class InvalidPromoTerms(ValidationError):
    code = "invalid_promo_terms"


class PromoNotFound(NotFound):
    code = "promo_not_found"
