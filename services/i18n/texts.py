"""Texts handed to clients that format them themselves (the Mini App).

A client gets the raw templates of one feature (keys with a common prefix), with their
`{name}` placeholders unfilled and nothing HTML-escaped: it fills them in and inserts the
result as plain text, so there is no markup to escape.
"""

from __future__ import annotations

from services.i18n.catalog import Catalog
from services.i18n.languages import DEFAULT_LANGUAGE

# What the Mini App shows: its own texts and the error texts the bot shares with it.
CLIENT_PREFIXES = ("miniapp.", "error.")


def client_texts(catalog: Catalog, language: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    for prefix in CLIENT_PREFIXES:
        texts.update(texts_with_prefix(catalog, language, prefix))
    return texts


def texts_with_prefix(catalog: Catalog, language: str, prefix: str) -> dict[str, str]:
    """Every key under `prefix`, in `language`; English fills a gap, as `Catalog.get` does.

    English decides which keys exist, so a client never misses a key it was written against.
    """
    own = catalog.texts.get(language, {})
    return {
        key: own.get(key) or text
        for key, text in catalog.texts[DEFAULT_LANGUAGE].items()
        if key.startswith(prefix)
    }
