"""HTML parse mode as Telegram applies it: plain text plus entities with UTF-16 offsets."""

from __future__ import annotations

import pytest

from sandbox.formatting import EntityParseError, parse_html, render_text
from sandbox.media import image_size


def test_nested_tags_links_and_escapes() -> None:
    text, entities = parse_html(
        '<b>bold <i>both</i></b> &lt;tag&gt; <a href="https://t.me/x">link</a>'
    )
    assert text == "bold both <tag> link"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "italic", "offset": 5, "length": 4},
        {"type": "text_link", "url": "https://t.me/x", "offset": 16, "length": 4},
    ]


def test_offsets_count_utf16_code_units() -> None:
    text, entities = parse_html("👋 <b>hi</b>")
    assert text == "👋 hi"
    assert entities == [{"type": "bold", "offset": 3, "length": 2}]  # the emoji is 2 units


def test_spoiler_pre_blockquote_and_empty_tags() -> None:
    text, entities = parse_html(
        '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler><pre>p</pre>'
        "<blockquote>q</blockquote><b></b>"
    )
    assert text == "stpq"
    assert [e["type"] for e in entities] == ["spoiler", "spoiler", "pre", "blockquote"]


@pytest.mark.parametrize(
    ("markup", "description"),
    [
        ("<b>open", 'Can\'t find end tag "b"'),
        ("<b>x</i>", 'Unexpected end tag "i"'),
        ("<br>", 'Unsupported start tag "br"'),
        ("<a>x</a>", "<a> needs href"),
    ],
)
def test_broken_markup_is_telegrams_400(markup: str, description: str) -> None:
    with pytest.raises(EntityParseError) as error:
        parse_html(markup)
    assert str(error.value) == f"Bad Request: can't parse entities: {description}"


def test_without_a_parse_mode_markup_is_text() -> None:
    assert render_text("<b>x</b>", None) == ("<b>x</b>", [])
    assert render_text("*x* <b>", "") == ("*x* <b>", [])


def test_image_sizes_from_headers() -> None:
    png = (
        b"\x89PNG\r\n\x1a\n"
        + b"\x00\x00\x00\rIHDR"
        + (640).to_bytes(4, "big")
        + (480).to_bytes(4, "big")
    )
    assert image_size(png) == (640, 480)
    assert image_size(b"GIF89a" + (3).to_bytes(2, "little") + (5).to_bytes(2, "little")) == (3, 5)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xc0\x00\x11\x08"
        + (20).to_bytes(2, "big")
        + (30).to_bytes(2, "big")
        + b"\x00" * 12
    )
    assert image_size(jpeg) == (30, 20)
    assert image_size(b"not an image") == (0, 0)
