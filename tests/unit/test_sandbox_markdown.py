"""MarkdownV2 and Markdown parse modes as Telegram applies them.

The cases are Telegram's own (TDLib's parser tests, which the Bot API server runs on), written
as the Bot API shows them: entity offsets in UTF-16 units, errors after "can't parse
entities: " with UTF-8 byte offsets into the text the bot sent.
"""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.formatting import EntityParseError, render_text
from sandbox.markdown import MarkdownError, checked_link, parse_markdown, parse_markdown_v2

STADIUM = "🏟"  # 4 UTF-8 bytes, 2 UTF-16 units


def e(kind: str, offset: int, length: int, **extra: Any) -> dict[str, Any]:
    return {"type": kind, "offset": offset, "length": length, **extra}


@pytest.mark.parametrize("char", list("]()#+-=|{}.!"))  # a lone ">" is an empty quote
def test_v2_reserved_characters_need_a_backslash(char: str) -> None:
    with pytest.raises(MarkdownError) as error:
        parse_markdown_v2(char)
    assert (
        str(error.value)
        == f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
    )
    assert parse_markdown_v2("\\" + char) == (char, [])


def test_v2_every_other_ascii_character_is_plain() -> None:
    for code in range(1, 126):
        char = chr(code)
        if char in "]()>#+-=|{}.!_*[~`>\\\n":
            continue
        assert parse_markdown_v2(char) == (char, [])


@pytest.mark.parametrize(
    ("markup", "message"),
    [
        ("🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"),
        ("🏟 🏟_abac * asd ", "Can't find end of Bold entity at byte offset 15"),
        ("🏟 🏟_abac * asd _", "Can't find end of Italic entity at byte offset 21"),
        ("🏟 🏟`", "Can't find end of Code entity at byte offset 9"),
        ("🏟 🏟```", "Can't find end of Pre entity at byte offset 9"),
        ("🏟 🏟```a", "Can't find end of Pre entity at byte offset 9"),
        ("🏟 🏟```a ", "Can't find end of PreCode entity at byte offset 9"),
        ("🏟 🏟__🏟 🏟_", "Can't find end of Italic entity at byte offset 20"),
        ("🏟 🏟_🏟 🏟__", "Can't find end of Underline entity at byte offset 19"),
        ("🏟 🏟```🏟 🏟`", "Can't find end of Code entity at byte offset 21"),
        ("🏟 🏟```🏟 🏟_", "Can't find end of PreCode entity at byte offset 9"),
        ("🏟 🏟```🏟 🏟\\`", "Can't find end of PreCode entity at byte offset 9"),
        ("[telegram\\.org](asd\\)", "Can't find end of a URL at byte offset 16"),
        ("[telegram\\.org](", "Can't find end of a URL at byte offset 16"),
        ("🏟 🏟__🏟 _🏟___", "Can't find end of Italic entity at byte offset 23"),
        ("🏟 🏟__", "Can't find end of Underline entity at byte offset 9"),
        ("🏟 🏟||test\\|", "Can't find end of Spoiler entity at byte offset 9"),
        ("🏟 🏟!", "Character '!' is reserved and must be escaped with the preceding '\\'"),
        ("🏟 🏟![👍]", "Custom emoji entity must contain a tg://emoji URL"),
        ("🏟 🏟![👍](tg://emoji?id=1234", "Can't find end of a custom emoji URL at byte offset 17"),
        ("🏟 🏟![👍](t://emoji?id=1234)", "Custom emoji URL must have scheme tg"),
        ("🏟 🏟![👍](tg:emojis?id=1234)", 'Custom emoji URL must have host "emoji"'),
        ("🏟 🏟![👍](tg://emoji#test)", "Custom emoji URL must have an emoji identifier"),
        ("🏟 🏟![👍](tg://emoji?test=1231&id=025)", "Invalid custom emoji identifier specified"),
        (">*b\n>ld \n>bo\nld*\nasd\ndef", "Can't find end of Bold entity at byte offset 1"),
        (">\n*a*>2", "Character '>' is reserved and must be escaped with the preceding '\\'"),
        (">asd\n>q||e||w||\n||asdad", "Can't find end of Spoiler entity at byte offset 16"),
        (">asd\n>q||ew\n||asdad", "Can't find end of Spoiler entity at byte offset 7"),
        (">asd\n>q||e||w__\n||asdad", "Can't find end of Underline entity at byte offset 13"),
        ("Version 1.0", "Character '.' is reserved and must be escaped with the preceding '\\'"),
    ],
)
def test_v2_errors_are_telegrams(markup: str, message: str) -> None:
    with pytest.raises(MarkdownError) as error:
        parse_markdown_v2(markup)
    assert str(error.value) == message


@pytest.mark.parametrize(
    ("markup", "text", "entities"),
    [
        ("", "", []),
        ("\\\\", "\\", []),
        ("\\\\\\\\\\_\\*\\`", "\\\\_*`", []),
        ("➡️ ➡️", "➡️ ➡️", []),
        ("🏟 🏟``", "🏟 🏟", []),
        ("🏟 🏟_abac \\* asd _", "🏟 🏟abac * asd ", [e("italic", 5, 11)]),
        ("🏟 \\.🏟_🏟\\. 🏟_", "🏟 .🏟🏟. 🏟", [e("italic", 6, 6)]),
        ("\\\\\\a\\b\\c\\d\\e\\f\\1\\2\\3\\4\\➡️\\", "\\abcdef1234\\➡️\\", []),
        ("➡️ ➡️_➡️ ➡️_*➡️ ➡️*", "➡️ ➡️➡️ ➡️➡️ ➡️", [e("italic", 5, 5), e("bold", 10, 5)]),
        ("🏟 🏟_🏟 *🏟*_", "🏟 🏟🏟 🏟", [e("italic", 5, 5), e("bold", 8, 2)]),
        ("🏟 🏟_🏟 __🏟___", "🏟 🏟🏟 🏟", [e("italic", 5, 5), e("underline", 8, 2)]),
        ("🏟 🏟__🏟 _🏟_ __", "🏟 🏟🏟 🏟 ", [e("underline", 5, 6), e("italic", 8, 2)]),
        ("🏟 🏟`🏟 🏟```", "🏟 🏟🏟 🏟", [e("code", 5, 5)]),
        ("🏟 🏟```🏟 🏟```", "🏟 🏟 🏟", [e("pre", 5, 3, language=STADIUM)]),
        ("🏟 🏟```🏟\n🏟```", "🏟 🏟🏟", [e("pre", 5, 2, language=STADIUM)]),
        ("🏟 🏟```🏟\r\n🏟```", "🏟 🏟🏟", [e("pre", 5, 2, language=STADIUM)]),
        ("🏟 🏟```🏟\n\n🏟```", "🏟 🏟\n🏟", [e("pre", 5, 3, language=STADIUM)]),
        ("🏟 🏟```🏟 \\\\\\`🏟```", "🏟 🏟 \\`🏟", [e("pre", 5, 5, language=STADIUM)]),
        ("```\nprint(1)\n```", "print(1)\n", [e("pre", 0, 9)]),
        ("```python\nprint(1)```", "print(1)", [e("pre", 0, 8, language="python")]),
        ("🏟 🏟**", "🏟 🏟", []),
        ("||test||", "test", [e("spoiler", 0, 4)]),
        ("🏟 🏟____", "🏟 🏟", []),
        (
            "`_* *_`__*` `*__",
            "_* *_ ",
            [e("code", 0, 5), e("code", 5, 1), e("bold", 5, 1), e("underline", 5, 1)],
        ),
        ("_* * ` `_", "   ", [e("italic", 0, 3), e("bold", 0, 1), e("code", 2, 1)]),
        ("[](telegram.org)", "", []),
        ("[ ](telegram.org)", " ", [e("text_link", 0, 1, url="http://telegram.org/")]),
        ("[ ](as)", " ", []),
        ("[telegram\\.org]", "telegram.org", [e("text_link", 0, 12, url="http://telegram.org/")]),
        ("[telegram\\.org]a", "telegram.orga", [e("text_link", 0, 12, url="http://telegram.org/")]),
        (
            "[telegram\\.org](https://telegram.dog?)",
            "telegram.org",
            [e("text_link", 0, 12, url="https://telegram.dog/?")],
        ),
        (
            "[telegram\\.org](https://telegram.dog?\\\\\\()",
            "telegram.org",
            [e("text_link", 0, 12, url="https://telegram.dog/?\\(")],
        ),
        ("[telegram\\.org]()", "telegram.org", []),
        ("[telegram\\.org](asdasd)", "telegram.org", []),
        (
            "🏟 🏟![👍](TG://EMoJI/?test=1231&id=25#id=32)a",
            "🏟 🏟👍a",
            [e("custom_emoji", 5, 2, custom_emoji_id="25")],
        ),
        ("> \n> \n>", " \n \n", [e("blockquote", 0, 4)]),
        ("abc\n> \n> \n>\ndef", "abc\n \n \n\ndef", [e("blockquote", 4, 5)]),
        (">", "", []),
        (">a", "a", [e("blockquote", 0, 1)]),
        ("\r>a", "\ra", [e("blockquote", 1, 1)]),
        (
            ">*bold _italic bold ~italic bold strikethrough ||italic bold strikethrough spoiler||~"
            " __underline italic bold___ bold*",
            "bold italic bold italic bold strikethrough italic bold strikethrough spoiler"
            " underline italic bold bold",
            [
                e("blockquote", 0, 103),
                e("bold", 0, 103),
                e("italic", 5, 93),
                e("strikethrough", 17, 59),
                e("spoiler", 43, 33),
                e("underline", 77, 21),
            ],
        ),
        (
            ">*b\n>ld \n>bo\n>ld*\nasd\ndef",
            "b\nld \nbo\nld\nasd\ndef",
            [e("blockquote", 0, 12), e("bold", 0, 11)],
        ),
        (
            "`>b\n>ld \n>bo\nld`\n>asd\ndef",
            ">b\n>ld \n>bo\nld\nasd\ndef",
            [e("code", 0, 14), e("blockquote", 15, 4)],
        ),
        (">\n**>2", "\n2", [e("blockquote", 0, 1), e("blockquote", 1, 1)]),
        (
            ">asd\n>q||e||w||\nasdad",
            "asd\nqew\nasdad",
            [e("expandable_blockquote", 0, 8), e("spoiler", 5, 1)],
        ),
        (">asd\n>q||ew||\nasdad", "asd\nqew\nasdad", [e("blockquote", 0, 8), e("spoiler", 5, 2)]),
        (
            ">asd\r\n>q||e||w||",
            "asd\r\nqew",
            [e("expandable_blockquote", 0, 8), e("spoiler", 6, 1)],
        ),
        (">||", "", []),
    ],
)
def test_v2_text_and_entities(markup: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_markdown_v2(markup) == (text, entities)


def test_v2_user_links_mention_known_people() -> None:
    ann = {"id": 123456, "is_bot": False, "first_name": "Ann"}
    assert parse_markdown_v2("[Ann](tg://user?id=123456)", {123456: ann}) == (
        "Ann",
        [e("text_mention", 0, 3, user=ann)],
    )


def test_v1_markdown() -> None:
    assert parse_markdown("*bold* _it_ `code` [site](example.com) \\*x") == (
        "bold it code site *x",
        [
            e("bold", 0, 4),
            e("italic", 5, 2),
            e("code", 8, 4),
            e("text_link", 13, 4, url="http://example.com/"),
        ],
    )
    assert parse_markdown("```py\nx = 1```. (ok) - fine!") == (
        "x = 1. (ok) - fine!",
        [e("pre", 0, 5, language="py")],
    )
    assert parse_markdown("*a _b_ c*") == ("a _b_ c", [e("bold", 0, 7)])
    with pytest.raises(MarkdownError) as error:
        parse_markdown("🏟 *open")
    assert str(error.value) == "Can't find end of the entity starting at byte offset 5"


def test_checked_links() -> None:
    assert checked_link("https://t.me/x?a=1") == "https://t.me/x?a=1"
    assert checked_link("HTTP://Example.com") == "http://Example.com/"
    assert checked_link("tg://resolve?domain=x") == "tg://resolve?domain=x"
    assert checked_link("javascript:alert(1)") is None
    assert checked_link("nodot") is None


def test_render_text_dispatches_on_parse_mode_case_insensitively() -> None:
    assert render_text("*x*", "MarkdownV2") == ("x", [e("bold", 0, 1)])
    assert render_text("*x*", "markdown") == ("x", [e("bold", 0, 1)])
    assert render_text("*x*", None) == ("*x*", [])
    with pytest.raises(EntityParseError) as error:
        render_text("a.b", "MarkdownV2")
    assert str(error.value) == (
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped "
        "with the preceding '\\'"
    )
    with pytest.raises(EntityParseError) as error:
        render_text("x", "Textile")
    assert str(error.value) == "Bad Request: unsupported parse_mode"
