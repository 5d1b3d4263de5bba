"""Texts handed to clients that format them themselves (the Mini App).

A client gets Fluent source, not rendered strings: the messages of one feature (keys with a
common prefix) exactly as the bot has them, with their variables, selectors and plural forms,
which it formats with `@fluent/bundle`. Nothing is HTML-escaped: the client inserts the result
as plain text, so there is no markup to escape.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.i18n.catalog import Catalog
from services.i18n.languages import DEFAULT_LANGUAGE

# What the Mini App shows: its own texts and the error texts the bot shares with it.
CLIENT_PREFIXES = ("miniapp.", "error.")


@dataclass(frozen=True)
class Resource:
    language: str
    source: str  # Fluent syntax


def client_resources(catalog: Catalog, language: str) -> list[Resource]:
    """The Mini App's messages in `language`, then in English for any message it lacks.

    A client looks a message up in order, as `Catalog.get` does; English decides which keys
    exist, so a client never misses a key it was written against.
    """
    chain = [language] if language == DEFAULT_LANGUAGE else [language, DEFAULT_LANGUAGE]
    return [Resource(lang, client_source(catalog, lang, CLIENT_PREFIXES)) for lang in chain]


def client_source(catalog: Catalog, language: str, prefixes: tuple[str, ...]) -> str:
    """Every message of `language` whose key starts with one of `prefixes`, and its terms."""
    messages = catalog.texts.get(language, {})
    chosen = (text.source for key, text in messages.items() if key.startswith(prefixes))
    return catalog.terms.get(language, "") + "".join(chosen)
