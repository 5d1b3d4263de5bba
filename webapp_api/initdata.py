"""Mini App identity: `Authorization: tma <initData>`, checked before anything else.

Two ways to trust initData, as Telegram offers them: the HMAC `hash`, which needs the bot
token, and the Ed25519 `signature` ("validating data for third-party use"), which needs only
the bot id and Telegram's public key, so a service that must not hold the token can still
authenticate Mini App users. `InitDataCheck` says which of them must hold.

The query string is parsed once and both keys are derived once per check, not per request;
`InitDataCache` remembers initData already verified (the same string comes with every request
of a Mini App session), so a repeat costs a dict lookup and the age check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from aiogram.utils.web_app import WebAppInitData
from aiogram.utils.web_app_signature import PRODUCTION_PUBLIC_KEY, TEST_PUBLIC_KEY
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

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
    # Derived once: HMAC("WebAppData", token) and the loaded public key.
    _secret: bytes | None = field(init=False, repr=False, compare=False, default=None)
    _public_key: Ed25519PublicKey | None = field(
        init=False, repr=False, compare=False, default=None
    )

    def __post_init__(self) -> None:
        if self.bot_token is None and self.third_party is None:
            raise ValueError("an initData check needs a bot token, a public key, or both")
        if self.bot_token is not None:
            secret = hmac.digest(b"WebAppData", self.bot_token.encode(), hashlib.sha256)
            object.__setattr__(self, "_secret", secret)
        if self.third_party is not None:
            key = Ed25519PublicKey.from_public_bytes(self.third_party.public_key)
            object.__setattr__(self, "_public_key", key)

    @property
    def required_fields(self) -> tuple[str, ...]:
        return (
            ("auth_date", "user")
            + (("hash",) if self.bot_token is not None else ())
            + (("signature",) if self.third_party is not None else ())
        )

    def signed(self, raw: str) -> bool:
        try:
            return self.signed_fields(dict(parse_qsl(raw, strict_parsing=True)))
        except ValueError:
            return False

    def signed_fields(self, fields: dict[str, str]) -> bool:
        """Telegram's two checks (core.telegram.org/bots/webapps), on the parsed fields."""
        if self._secret is not None:
            sent = fields.get("hash")
            checked = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()) if k != "hash")
            digest = hmac.new(self._secret, checked.encode(), hashlib.sha256).hexdigest()
            if sent is None or not hmac.compare_digest(digest, sent):
                return False
        if self.third_party is not None and self._public_key is not None:
            signature = fields.get("signature")
            if not signature:
                return False
            checked = f"{self.third_party.bot_id}:WebAppData\n" + "\n".join(
                f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("hash", "signature")
            )
            try:
                raw_signature = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
                self._public_key.verify(raw_signature, checked.encode())
            except (ValueError, InvalidSignature):  # not base64url, not 64 bytes, or wrong
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
    if not check.signed_fields(fields):
        raise AuthBadSignature("initData signature does not match")
    try:
        data = _init_data(fields)
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


def _init_data(fields: dict[str, str]) -> WebAppInitData:
    # As aiogram's parse_webapp_init_data reads them: values that look like JSON are JSON.
    values: dict[str, Any] = {
        key: json.loads(value) if (value[:1], value[-1:]) in (("[", "]"), ("{", "}")) else value
        for key, value in fields.items()
    }
    return WebAppInitData(**values)


@dataclass(frozen=True)
class VerifiedInitData:
    data: WebAppInitData
    profile: TelegramProfile
    auth_date: float
    check: InitDataCheck


class InitDataCache:
    """initData strings already verified by a check, with what they say.

    Only successes are kept, keyed by the whole string (its signatures included) and answered
    only for the check that verified them, so a hit proves what a fresh check would; the age is
    checked again on every hit. Bounded: past `size` entries the oldest goes.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: dict[str, VerifiedInitData] = {}

    def verify(self, raw: str, check: InitDataCheck, *, max_age: int) -> VerifiedInitData:
        """Raises what `verify_init_data` and `profile_from` raise."""
        entry = self._entries.get(raw)
        if entry is not None and entry.check is check:
            if time.time() - entry.auth_date <= max_age:
                return entry
            del self._entries[raw]
            raise AuthExpired("initData has expired; reopen the app")
        data = verify_init_data(raw, max_age=max_age, check=check)
        auth_date = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=UTC)
        entry = VerifiedInitData(data, profile_from(data), auth_date.timestamp(), check)
        self._entries.pop(raw, None)
        if len(self._entries) >= self._size:
            del self._entries[next(iter(self._entries))]
        self._entries[raw] = entry
        return entry


def profile_from(init_data: WebAppInitData) -> TelegramProfile:
    """The signed user as a profile. Raises AuthMalformed for an id out of range,
    a name with NUL or another field we refuse: a valid signature does not make it sane."""
    assert init_data.user is not None
    try:
        return profile_of(init_data.user)
    except ValidationError as exc:
        raise AuthMalformed("initData user fields are not valid", **exc.details) from None
