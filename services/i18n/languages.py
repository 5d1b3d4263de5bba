"""The languages the product speaks: the bot, the Mini App API and the catalog share this list."""

from __future__ import annotations

from typing import Final, Literal, get_args

Language = Literal["en", "ru"]
SUPPORTED_LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
# What a user whose own language is not supported reads, and where a missing text falls back.
DEFAULT_LANGUAGE: Final[Language] = "en"
