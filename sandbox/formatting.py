"""Telegram's parse modes: markup becomes plain text + entities, exactly what clients receive.

Telegram never hands a client the HTML the bot sent; it returns the text with tags removed and a
list of entities (offsets in UTF-16 code units). The web chat renders those entities, so it
never has to trust bot-supplied markup, and a bot that sends broken HTML gets Telegram's 400.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from sandbox.markdown import MarkdownError, parse_markdown, parse_markdown_v2

_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "blockquote": "blockquote",
}


class EntityParseError(ValueError):
    """The text is not valid markup for its parse mode; the message is Telegram's description."""


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.entities: list[dict[str, Any]] = []
        self._open: list[tuple[str, dict[str, Any]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {key: value or "" for key, value in attrs}
        entity: dict[str, Any]
        if tag == "a":
            if "href" not in attributes:
                raise EntityParseError("Bad Request: can't parse entities: <a> needs href")
            entity = {"type": "text_link", "url": attributes["href"]}
        elif tag == "span" and "tg-spoiler" in attributes.get("class", ""):
            entity = {"type": "spoiler"}
        elif tag == "tg-emoji":
            entity = {"type": "custom_emoji", "custom_emoji_id": attributes.get("emoji-id", "")}
        elif tag in _SIMPLE:
            entity = {"type": _SIMPLE[tag]}
        else:
            raise EntityParseError(
                f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"'
            )
        entity["offset"] = _utf16_len(self.text)
        self._open.append((tag, entity))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            raise EntityParseError(
                f'Bad Request: can\'t parse entities: Unexpected end tag "{tag}"'
            )
        _, entity = self._open.pop()
        entity["length"] = _utf16_len(self.text) - entity["offset"]
        if entity["length"] > 0:
            self.entities.append(entity)

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Raises EntityParseError with Telegram's description when the markup is broken."""
    parser = _Parser()
    parser.feed(text)
    parser.close()
    if parser._open:
        tag = parser._open[-1][0]
        raise EntityParseError(f"Bad Request: can't parse entities: Can't find end tag \"{tag}\"")
    parser.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
    return parser.text, parser.entities


def render_text(
    text: str, parse_mode: str | None, users: dict[int, dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The text and entities a client receives for what the bot sent with `parse_mode`.

    `users` are the people a `tg://user?id=` link may mention. Raises EntityParseError with
    Telegram's description for broken markup or an unknown parse mode.
    """
    mode = (parse_mode or "").lower()
    if not mode:
        return text, []
    if mode == "html":
        return parse_html(text)
    parsers = {"markdownv2": parse_markdown_v2, "markdown": parse_markdown}
    if mode not in parsers:
        raise EntityParseError("Bad Request: unsupported parse_mode")
    try:
        return parsers[mode](text, users)
    except MarkdownError as exc:
        raise EntityParseError(f"Bad Request: can't parse entities: {exc}") from None
