"""Every string and number from outside, checked once at the edge, with the same rules.

The API's request models, Telegram profiles (initData and bot updates) and the bot's command
and callback parsing use these types and parsers, so nothing PostgreSQL or Python would choke
on (NUL, other control characters, unpaired surrogates, Unicode digits, out-of-range integers)
gets past the front door. A refusal is a `ValidationError` (4xx), never a crash.

- Text is NFC-normalised and carries no control characters (C0, DEL, C1): NUL can't be
  stored in PostgreSQL text or jsonb, and the rest only hide or garble what people see.
  Lengths are checked on the text as sent.
- Telegram ids: the Bot API promises at most 52 significant bits; we accept 1..2**53-1, every
  real id and exactly what the Mini App's JavaScript `Number` holds, well inside `bigint`.
- Numbers typed by people are ASCII digits only: `str.isdigit()` and `int()` also take `²`,
  `١٢٣` or `１２`, which no one means as an amount or an id.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

import pydantic
from pydantic import AfterValidator, Field, StringConstraints

from services.errors import ValidationError

MAX_TELEGRAM_ID = 2**53 - 1
# The same class of characters in Python, pydantic (Rust) and JSON Schema (ECMA) regex syntax.
_CONTROLS = r"\x00-\x1f\x7f-\x9f"
NO_CONTROLS = rf"^[^{_CONTROLS}]*$"
# Multiline text may keep tab and line feed.
NO_CONTROLS_MULTILINE = r"^[^\x00-\x08\x0b-\x1f\x7f-\x9f]*$"
# Control characters and unpaired surrogates (JSON's "\ud800" decodes to one; UTF-8 can't hold it).
_UNSHOWABLE = re.compile(rf"[{_CONTROLS}\ud800-\udfff]")
_ASCII_DIGITS = re.compile(r"[0-9]+")
# What Telegram passes through a t.me/<bot>?start= or ?startapp= link: these characters, at
# most 64 of them.
_START_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


class InvalidCursor(ValidationError):
    code = "invalid_cursor"


SafeText = Annotated[str, StringConstraints(pattern=NO_CONTROLS), AfterValidator(nfc)]
"""One line of text: NFC, no control characters. Add `Field(max_length=...)` where used."""

SafeMultilineText = Annotated[
    str, StringConstraints(pattern=NO_CONTROLS_MULTILINE), AfterValidator(nfc)
]
"""Like `SafeText`, but tab and line feed are allowed."""

TelegramId = Annotated[int, Field(ge=1, le=MAX_TELEGRAM_ID)]


def clean_text(
    text: str, *, max_length: int, error: type[ValidationError] = ValidationError
) -> str:
    """`SafeText` for callers outside pydantic (bot commands, service inputs).

    Raises `error` (a ValidationError) for a control character, an unpaired surrogate or more than
    `max_length` characters.
    """
    if _UNSHOWABLE.search(text) is not None:
        raise error("text contains characters that are not allowed")
    if len(text) > max_length:
        raise error("text is too long", max=max_length)
    return nfc(text)


def echo(text: str, *, limit: int = 64) -> str:
    """Refused input, safe to show back or store in an error's details: control characters
    and unpaired surrogates become U+FFFD, and it is cut to `limit` characters."""
    return _UNSHOWABLE.sub("\ufffd", text[:limit])


def parse_digits(text: str, *, max_digits: int) -> int | None:
    """The integer written with 1..max_digits ASCII digits, else None (never an exception)."""
    if len(text) > max_digits or _ASCII_DIGITS.fullmatch(text) is None:
        return None
    return int(text)


def parse_telegram_id(text: str) -> int | None:
    """A Telegram id written in ASCII digits and within `TelegramId`'s range, else None."""
    value = parse_digits(text, max_digits=len(str(MAX_TELEGRAM_ID)))
    return value if value is not None and 1 <= value <= MAX_TELEGRAM_ID else None


def field_errors(exc: pydantic.ValidationError) -> list[dict[str, str]]:
    """A pydantic error as `details.fields`: where and why, never the input itself."""
    return [
        {"loc": ".".join(str(p) for p in err["loc"]), "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def start_payload(raw: str | None) -> str | None:
    """A `/start` deep link's payload or a Mini App's `start_param`, if Telegram could have
    sent it; anything else is None (the contact is welcome, its payload is not)."""
    if raw is None or _START_PAYLOAD.fullmatch(raw) is None:
        return None
    return raw
