"""Errors of the users capability."""

from __future__ import annotations

from services.errors import Forbidden, NotFound, ValidationError


class UserNotFound(NotFound):
    code = "user_not_found"


class UnsupportedLanguage(ValidationError):
    code = "unsupported_language"


class InvalidProfile(ValidationError):
    code = "invalid_profile"


class UserBanned(Forbidden):
    code = "user_banned"
