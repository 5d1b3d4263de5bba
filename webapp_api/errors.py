"""Errors only the HTTP door raises: authentication, request bodies, health."""

from __future__ import annotations

from services.errors import DomainError, Unauthorized, ValidationError
from services.users.errors import UserBanned


class AuthMissing(Unauthorized):
    code = "auth_missing"


class AuthMalformed(Unauthorized):
    code = "auth_malformed"


class AuthBadSignature(Unauthorized):
    code = "auth_bad_signature"


class AuthExpired(Unauthorized):
    code = "auth_expired"


class InvalidJson(ValidationError):
    code = "invalid_json"


class DatabaseUnavailable(DomainError):
    code = "database_unavailable"
    status = 503


# What `auth_middleware` can refuse a signed-in route with.
AUTH_ERRORS: tuple[type[DomainError], ...] = (
    AuthMissing,
    AuthMalformed,
    AuthBadSignature,
    AuthExpired,
    UserBanned,
)
