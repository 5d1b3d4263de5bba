"""One error tree for every front door: each error has a stable machine `code`.

The API maps the class to an HTTP status, the bot maps the code to a localized message.
Each capability names its errors in `services/<capability>/errors.py`, one class per code,
subclassing the generic kinds below; HTTP-only errors live in `webapp_api/errors.py`.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "error"
    status: ClassVar[int] = 400

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationError(DomainError):
    code = "validation_error"
    status = 422


class Unauthorized(DomainError):
    code = "unauthorized"
    status = 401


class Forbidden(DomainError):
    code = "forbidden"
    status = 403


class NotFound(DomainError):
    code = "not_found"
    status = 404


class Conflict(DomainError):
    code = "conflict"
    status = 409


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    status = 409


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429
