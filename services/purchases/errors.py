"""Errors of Stars purchases and their refunds."""

from __future__ import annotations

from services.errors import Conflict, DomainError, Forbidden, NotFound, ValidationError


class PackNotFound(NotFound):
    code = "pack_not_found"


class InvalidInvoice(ValidationError):
    """A payment whose payload, currency or price is not one of our invoices'."""

    code = "invalid_invoice"


class PriceChanged(Conflict):
    code = "price_changed"


class NotTheBuyer(Forbidden):
    code = "not_the_buyer"


class BuyerBanned(Forbidden):
    code = "buyer_banned"


class PurchaseNotFound(NotFound):
    code = "purchase_not_found"


class AlreadyRefunded(Conflict):
    code = "already_refunded"


class TokensSpent(Conflict):
    """The buyer no longer has what the purchase credited; details carry the figures."""

    code = "tokens_spent"


class StarsUnavailable(DomainError):
    """No bot to ask Telegram for an invoice link (the API runs without BOT_TOKEN)."""

    code = "stars_unavailable"
    status = 503


class TelegramUnavailable(DomainError):
    """Telegram did not answer a question only it can (the bot's @username, for links)."""

    code = "telegram_unavailable"
    status = 503


class RefundFailed(Conflict):
    """Telegram refused the refund (an unknown charge, or another reason it gave)."""

    code = "refund_failed"


INVOICE_ERRORS: tuple[type[DomainError], ...] = (PackNotFound, StarsUnavailable)
