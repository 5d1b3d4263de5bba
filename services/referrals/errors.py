"""Errors of the referral program and its fraud review."""

from __future__ import annotations

from services.errors import Conflict, NotFound, ValidationError


class InvalidLevel(ValidationError):
    code = "invalid_level"


class FlagNotFound(NotFound):
    code = "flag_not_found"


class FlagDecided(Conflict):
    code = "flag_decided"
