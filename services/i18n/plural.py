"""Which plural form a count takes, per language (CLDR cardinal rules for what we ship).

The catalog has no plural syntax; a counted word is kept as keys `<word>.one`, `<word>.few`
and `<word>.many` in every language (English uses `many` for everything but one).
"""

from __future__ import annotations


def plural_form(language: str, count: int) -> str:
    n = abs(count)
    if language == "ru":
        if n % 10 == 1 and n % 100 != 11:
            return "one"
        if 2 <= n % 10 <= 4 and not 12 <= n % 100 <= 14:
            return "few"
        return "many"
    return "one" if n == 1 else "many"
