"""Mini App identity: `Authorization: tma <initData>`, checked before anything else.

Two ways to trust initData, as Telegram offers them: the HMAC `hash`, which needs the bot
token, and the Ed25519 `signature` ("validating data for third-party use"), which needs only
the bot id and Telegram's public key, so a service that must not hold the token can still
authenticate Mini App users. `InitDataCheck` says which of them must hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from aiogram.utils.web_app import WebAppInitData, check_webapp_signature, parse_webapp_init_data
from aiogram.utils.web_app_signature import PRODUCTION_PUBLIC_KEY, TEST_PUBLIC_KEY
from aiogram.utils.web_app_signature import check_webapp_signature as check_ed25519_signature

from services.errors import ValidationError
from services.users.schemas import TelegramProfile, profile_of
from webapp_api.errors import AuthBadSignature, AuthExpired, AuthMalformed, AuthMissing

# A phone whose clock runs a little fast must still get in; anything further ahead is forged.
FUTURE_SKEW = timedelta(seconds=60)
# Telegram's keys for the `signature` (core.telegram.org/bots/webapps, third-party use).
TELEGRAM_PUBLIC_KEYS = {"production": PRODUCTION_PUBLIC_KEY, "test": TEST_PUBLIC_KEY}


@dataclass(frozen=True)
class ThirdPartyKey:
    """Checks the Ed25519 `signature`: the bot's id and a raw 32-byte public key."""

    bot_id: int
    public_key: bytes


@dataclass(frozen=True)
class InitDataCheck:
    """Which signatures must hold: the HMAC `hash` (with `bot_token`), the Ed25519
    `signature` (with `third_party`), or both when both are given."""

    bot_token: str | None = None
    third_party: ThirdPartyKey | None = None

    def __post_init__(self) -> None:
        if self.bot_token is None and self.third_party is None:
            raise ValueError("an initData check needs a bot token, a public key, or both")

    @property
    def required_fields(self) -> tuple[str, ...]:
        return (
            ("auth_date", "user")
            + (("hash",) if self.bot_token is not None else ())
            + (("signature",) if self.third_party is not None else ())
        )

    def signed(self, raw: str) -> bool:
        if self.bot_token is not None and not check_webapp_signature(self.bot_token, raw):
            return False
        if self.third_party is not None:
            key = self.third_party
            try:
                return check_ed25519_signature(key.bot_id, raw, key.public_key)
            except ValueError:  # a signature that is not base64url, or not 64 bytes
                return False
        return True


def init_data_from_header(header: str | None) -> str:
    if not header:
        raise AuthMissing("Authorization header with Mini App initData is required")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "tma" or not value.strip():
        raise AuthMalformed("Authorization must be 'tma <initData>'")
    return value.strip()


def verify_init_data(
    raw: str,
    *,
    bot_token: str | None = None,
    max_age: int,
    now: datetime | None = None,
    check: InitDataCheck | None = None,
) -> WebAppInitData:
    """Raises AuthMalformed, AuthBadSignature or AuthExpired (all Unauthorized).

    `check` says which signatures must hold; without it, the HMAC `hash` with `bot_token`.
    """
    check = check or InitDataCheck(bot_token=bot_token)
    try:
        fields = dict(parse_qsl(raw, strict_parsing=True))
    except ValueError:
        raise AuthMalformed("initData is not a query string") from None
    if any(name not in fields for name in check.required_fields):
        raise AuthMalformed("initData lacks one of " + ", ".join(check.required_fields))
    if not check.signed(raw):
        raise AuthBadSignature("initData signature does not match")
    try:
        data = parse_webapp_init_data(raw)
    # RecursionError: a signed `user` JSON nested deeper than Python's recursion limit.
    except (ValueError, TypeError, RecursionError):
        raise AuthMalformed("initData fields are malformed") from None
    if data.user is None:
        raise AuthMalformed("initData has no user")
    now = now or datetime.now(UTC)
    auth_date = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
    if now - auth_date > timedelta(seconds=max_age):
        raise AuthExpired("initData has expired; reopen the app")
    if auth_date - now > FUTURE_SKEW:
        raise AuthExpired("initData is dated in the future")
    return data


def profile_from(init_data: WebAppInitData) -> TelegramProfile:
    """The signed user as a profile. Raises AuthMalformed for an id out of range,
    a name with NUL or another field we refuse: a valid signature does not make it sane."""
    assert init_data.user is not None
    try:
        return profile_of(init_data.user)
    except ValidationError as exc:
        raise AuthMalformed("initData user fields are not valid", **exc.details) from None
