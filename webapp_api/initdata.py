"""Mini App identity: `Authorization: tma <initData>`, checked before anything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from aiogram.utils.web_app import WebAppInitData, check_webapp_signature, parse_webapp_init_data

from services.errors import Unauthorized, ValidationError
from services.users.schemas import TelegramProfile, profile_of

# A phone whose clock runs a little fast must still get in; anything further ahead is forged.
FUTURE_SKEW = timedelta(seconds=60)


def init_data_from_header(header: str | None) -> str:
    if not header:
        raise Unauthorized(
            "Authorization header with Mini App initData is required", code="auth_missing"
        )
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "tma" or not value.strip():
        raise Unauthorized("Authorization must be 'tma <initData>'", code="auth_malformed")
    return value.strip()


def verify_init_data(
    raw: str, *, bot_token: str, max_age: int, now: datetime | None = None
) -> WebAppInitData:
    """Raises Unauthorized with code auth_malformed, auth_bad_signature or auth_expired."""
    try:
        fields = dict(parse_qsl(raw, strict_parsing=True))
    except ValueError:
        raise Unauthorized("initData is not a query string", code="auth_malformed") from None
    if "hash" not in fields or "auth_date" not in fields or "user" not in fields:
        raise Unauthorized("initData lacks hash, auth_date or user", code="auth_malformed")
    if not check_webapp_signature(bot_token, raw):
        raise Unauthorized("initData signature does not match", code="auth_bad_signature")
    try:
        data = parse_webapp_init_data(raw)
    # RecursionError: a signed `user` JSON nested deeper than Python's recursion limit.
    except (ValueError, TypeError, RecursionError):
        raise Unauthorized("initData fields are malformed", code="auth_malformed") from None
    if data.user is None:
        raise Unauthorized("initData has no user", code="auth_malformed")
    now = now or datetime.now(UTC)
    auth_date = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    if now - auth_date > timedelta(seconds=max_age):
        raise Unauthorized("initData has expired; reopen the app", code="auth_expired")
    if auth_date - now > FUTURE_SKEW:
        raise Unauthorized("initData is dated in the future", code="auth_expired")
    return data


def profile_from(init_data: WebAppInitData) -> TelegramProfile:
    """The signed user as a profile. Raises Unauthorized(auth_malformed) for an id out of range,
    a name with NUL or another field we refuse: a valid signature does not make it sane."""
    assert init_data.user is not None
    try:
        return profile_of(init_data.user)
    except ValidationError as exc:
        raise Unauthorized(
            "initData user fields are not valid", code="auth_malformed", **exc.details
        ) from None
