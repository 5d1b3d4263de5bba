"""Telegram's Markdown and MarkdownV2 parse modes: text + entities, errors word for word.

Follows the Bot API's "Formatting options" and the parser behind it (TDLib's
`parse_markdown` / `parse_markdown_v2`): the same escapes, the same greedy `__`, the same
blockquote lines, and the same 400 descriptions, whose offsets are UTF-8 byte offsets into
the text the bot sent. Entity offsets are UTF-16 code units, as everywhere in the Bot API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

# Everything outside code and pre that must be escaped in MarkdownV2 (plus the line break,
# which ends a blockquote line).
_V2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!\n")
_V2_CODE_RESERVED = frozenset("`")
_V1_MARKERS = frozenset("_*`[")
_SPACES = frozenset(" \t\r\n\v\f")
# The order Telegram lists entities starting at the same place with the same length.
_PRIORITY = {
    "blockquote": 0,
    "expandable_blockquote": 0,
    "pre": 11,
    "code": 20,
    "text_link": 49,
    "text_mention": 49,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "custom_emoji": 99,
}
# TDLib's names for the entity kinds, which its error messages use.
_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "code": "Code",
    "pre": "Pre",
    "pre_code": "PreCode",
    "text_link": "TextUrl",
    "custom_emoji": "CustomEmoji",
    "blockquote": "BlockQuote",
}
_USER_LINK = re.compile(r"tg:(?://)?user\?(?:.*&)?id=(\d+)(?:&.*)?", re.IGNORECASE)
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]", re.IGNORECASE)


class MarkdownError(ValueError):
    """Not valid markup; the message is what follows "can't parse entities: "."""


def _units(char: str) -> int:
    return 2 if ord(char) > 0xFFFF else 1


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def checked_link(url: str) -> str | None:
    """The URL a text link gets, or None when Telegram drops the link (keeping the text)."""
    url = url.strip()
    if not url:
        return None
    lowered = url.lower()
    if lowered.startswith(("tg:", "ton:", "tonsite:")):
        return url
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not _HOST.fullmatch(parts.hostname or ""):
        return None
    rest = url.split("://", 1)[1][len(parts.netloc) :]
    if not rest.startswith("/"):
        rest = "/" + rest
    return f"{parts.scheme.lower()}://{parts.netloc}{rest}"


def _link_entity(url: str, users: dict[int, dict[str, Any]]) -> dict[str, Any] | None:
    mention = _USER_LINK.fullmatch(url)
    if mention is not None and int(mention.group(1)) in users:
        return {"type": "text_mention", "user": users[int(mention.group(1))]}
    link = checked_link(url)
    return None if link is None else {"type": "text_link", "url": link}


def _custom_emoji_id(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme.lower() != "tg":
        raise MarkdownError("Custom emoji URL must have scheme tg")
    host = parts.netloc or parts.path.split("/", 1)[0]
    if host.lower() != "emoji":
        raise MarkdownError('Custom emoji URL must have host "emoji"')
    ids = [value for key, value in parse_qsl(parts.query) if key == "id"]
    if not ids:
        raise MarkdownError("Custom emoji URL must have an emoji identifier")
    if not re.fullmatch(r"[1-9]\d{0,18}", ids[0]):
        raise MarkdownError("Invalid custom emoji identifier specified")
    return ids[0]


def _sorted(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(entities, key=lambda e: (e["offset"], -e["length"], _PRIORITY.get(e["type"], 50)))


@dataclass
class _Open:
    kind: str  # a key of _NAMES
    start: int  # UTF-16 offset in the result
    index: int  # where its marker starts in the source, for error messages
    result_index: int  # where its text starts in the result
    language: str = ""


@dataclass
class _V2:
    source: str
    users: dict[int, dict[str, Any]]
    out: list[str] = field(default_factory=list)
    offset: int = 0
    entities: list[dict[str, Any]] = field(default_factory=list)
    stack: list[_Open] = field(default_factory=list)
    in_quote: bool = False
    line_start: bool = True

    def at(self, index: int) -> str:
        return self.source[index] if 0 <= index < len(self.source) else ""

    def emit(self, char: str) -> None:
        self.out.append(char)
        self.offset += _units(char)

    def unclosed(self, entry: _Open) -> MarkdownError:
        return MarkdownError(
            f"Can't find end of {_NAMES[entry.kind]} entity at byte offset "
            f"{_byte_offset(self.source, entry.index)}"
        )

    @staticmethod
    def reserved(char: str) -> MarkdownError:
        return MarkdownError(
            f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
        )

    def closes(self, i: int) -> bool:
        if not self.stack:
            return False
        char, after = self.source[i], self.at(i + 1)
        if self.in_quote and char == "\n" and after != ">":
            return True
        kind = self.stack[-1].kind
        return {
            "bold": char == "*",
            "italic": char == "_" and after != "_",
            "underline": char == "_" and after == "_",
            "strikethrough": char == "~",
            "spoiler": char == "|" and after == "|",
            "code": char == "`",
            "pre": char == "`" and after == "`" and self.at(i + 2) == "`",
            "pre_code": char == "`" and after == "`" and self.at(i + 2) == "`",
            "text_link": char == "]",
            "custom_emoji": char == "]",
        }.get(kind, False)

    def parse(self) -> tuple[str, list[dict[str, Any]]]:
        i = 0
        while i < len(self.source):
            i = self.step(i) + 1
        self.finish()
        return "".join(self.out), _sorted(self.entities)

    def step(self, i: int) -> int:
        """Handle the character at i; return the index of the last character consumed."""
        char = self.source[i]
        after = self.at(i + 1)
        if char == "\\" and after and 0 < ord(after) <= 126:
            self.emit(after)
            if after != "\r":
                self.line_start = after == "\n"
            return i + 1
        in_code = bool(self.stack) and self.stack[-1].kind in ("code", "pre", "pre_code")
        if char not in (_V2_CODE_RESERVED if in_code else _V2_RESERVED):
            self.emit(char)
            if char != "\r":
                self.line_start = False
            return i
        if self.closes(i):
            return self.close(i)
        return self.open(i)

    def open(self, i: int) -> int:
        char, after = self.source[i], self.at(i + 1)
        start = i
        language = ""
        if char == "_":
            kind = "underline" if after == "_" else "italic"
            i += kind == "underline"
        elif char == "*":
            kind = "bold"
        elif char == "~":
            kind = "strikethrough"
        elif char == "|" and after == "|":
            kind, i = "spoiler", i + 1
        elif char == "[":
            kind = "text_link"
        elif char == "!" and after == "[":
            kind, i = "custom_emoji", i + 1
        elif char == "`" and after == "`" and self.at(i + 2) == "`":
            kind, i = "pre", i + 3
            end = i
            while end < len(self.source) and self.source[end] not in _SPACES | {"`"}:
                end += 1
            if end != i and end < len(self.source) and self.source[end] != "`":
                kind, language, i = "pre_code", self.source[i:end], end
            if self.at(i) in ("\n", "\r"):  # one line break after the opening fence is dropped
                pair = self.at(i + 1) in ("\n", "\r") and self.at(i + 1) != self.at(i)
                i += 2 if pair else 1
            i -= 1
        elif char == "`":
            kind = "code"
        elif char == "\n":
            self.emit("\n")
            self.line_start = True
            return i
        elif char == ">" and self.line_start:
            if self.in_quote:
                return i  # the next line of the same quote
            kind, self.in_quote = "blockquote", True
        else:
            raise self.reserved(char)
        self.stack.append(_Open(kind, self.offset, start, len(self.out), language))
        return i

    def close(self, i: int) -> int:
        top = self.stack[-1]
        kind = top.kind
        if self.source[i] == "\n" and kind != "blockquote":
            # Only an expandability mark (`||` right before the line break) may end here.
            mark = top.index == i - 2 or (top.index == i - 3 and self.out and self.out[-1] == "\r")
            if kind != "spoiler" or not mark:
                raise self.unclosed(top)
            self.stack.pop()
            if self.stack[-1].kind != "blockquote":
                raise self.unclosed(self.stack[-1])
            top, kind = self.stack[-1], "expandable_blockquote"
        entity: dict[str, Any] | None = {"type": kind}
        empty = self.offset == top.start
        if kind in ("underline", "spoiler"):
            i += 1
        elif kind in ("pre", "pre_code"):
            i += 2
            entity = {"type": "pre", "language": top.language} if top.language else {"type": "pre"}
        elif kind == "text_link":
            if self.at(i + 1) != "(":
                url = "".join(self.out[top.result_index :])
            else:
                url, i = self.url(i + 2, "Can't find end of a URL at byte offset {}")
            entity = _link_entity(url, self.users)
        elif kind == "custom_emoji":
            if self.at(i + 1) != "(":
                raise MarkdownError("Custom emoji entity must contain a tg://emoji URL")
            url, i = self.url(i + 2, "Can't find end of a custom emoji URL at byte offset {}")
            entity = {"type": "custom_emoji", "custom_emoji_id": _custom_emoji_id(url)}
        elif kind in ("blockquote", "expandable_blockquote"):
            self.in_quote = False
            self.emit(self.source[i])
            self.line_start = True
            empty = False
        self.stack.pop()
        if entity is not None and not empty:
            entity.update(offset=top.start, length=self.offset - top.start)
            self.entities.append(entity)
        return i

    def url(self, i: int, unfinished: str) -> tuple[str, int]:
        """Read `(...)` from just after its parenthesis; return the URL and the `)` index."""
        begin, chars = i, []
        while i < len(self.source) and self.source[i] != ")":
            if self.source[i] == "\\" and 0 < ord(self.at(i + 1) or "\0") <= 126:
                chars.append(self.source[i + 1])
                i += 2
                continue
            chars.append(self.source[i])
            i += 1
        if i >= len(self.source):
            raise MarkdownError(unfinished.format(_byte_offset(self.source, begin)))
        return "".join(chars), i

    def finish(self) -> None:
        if self.in_quote:
            kind = "blockquote"
            top = self.stack[-1]
            if top.kind == "spoiler" and _byte_offset(self.source, top.index) == (
                len(self.source.encode("utf-8")) - 2
            ):
                self.stack.pop()
                kind = "expandable_blockquote"
            top = self.stack[-1]
            if top.kind == "blockquote":
                self.in_quote = False
                if self.offset != top.start:
                    self.entities.append(
                        {"type": kind, "offset": top.start, "length": self.offset - top.start}
                    )
                self.stack.pop()
        if self.stack:
            raise self.unclosed(self.stack[-1])


def parse_markdown_v2(
    text: str, users: dict[int, dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """`users` are the people a `tg://user?id=` link can mention (as text_mention)."""
    return _V2(text, users or {}).parse()


def parse_markdown(
    text: str, users: dict[int, dict[str, Any]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The legacy Markdown mode: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````,
    `[text](url)`; no nesting; a backslash escapes only `_ * `` ` `` [`."""
    out: list[str] = []
    offset = 0
    entities: list[dict[str, Any]] = []
    size = len(text)
    i = 0

    def at(index: int) -> str:
        return text[index] if index < size else ""

    while i < size:
        char = text[i]
        if char == "\\" and at(i + 1) in _V1_MARKERS and at(i + 1):
            out.append(text[i + 1])
            offset += 1
            i += 2
            continue
        if char not in _V1_MARKERS:
            out.append(char)
            offset += _units(char)
            i += 1
            continue
        begin = i
        end_char = "]" if char == "[" else char
        is_pre = False
        language = ""
        i += 1
        if char == "`" and at(i) == "`" and at(i + 1) == "`":
            i += 2
            is_pre = True
            end = i
            while end < size and text[end] not in _SPACES | {"`"}:
                end += 1
            if i != end and end < size and text[end] != "`":
                language, i = text[i:end], end
            if at(i) in ("\n", "\r"):
                i += 2 if at(i + 1) in ("\n", "\r") and at(i + 1) != at(i) else 1
        start = offset
        while i < size and (
            text[i] != end_char or (is_pre and not (at(i + 1) == "`" and at(i + 2) == "`"))
        ):
            out.append(text[i])
            offset += _units(text[i])
            i += 1
        if i == size:
            raise MarkdownError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        if offset != start:
            entity: dict[str, Any] | None
            if char == "_":
                entity = {"type": "italic"}
            elif char == "*":
                entity = {"type": "bold"}
            elif char == "[":
                if at(i + 1) != "(":
                    url = text[begin + 1 : i]
                else:
                    close = text.find(")", i + 2)
                    close = size if close < 0 else close
                    url, i = text[i + 2 : close], close
                entity = _link_entity(url, users or {})
            elif is_pre:
                entity = {"type": "pre", "language": language} if language else {"type": "pre"}
            else:
                entity = {"type": "code"}
            if entity is not None:
                entity.update(offset=start, length=offset - start)
                entities.append(entity)
        i += 3 if is_pre else 1
    return "".join(out), _sorted(entities)
