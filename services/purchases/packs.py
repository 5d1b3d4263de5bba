"""Token packs sold for Telegram Stars: configuration (`STARS_PACKS`), read once."""

from __future__ import annotations

from dataclasses import dataclass

from services.ledger.amounts import parse_amount
from services.ledger.assets import DEFAULT_ASSET_DECIMALS

# Telegram's limits for one Stars invoice.
MAX_STARS = 100_000


@dataclass(frozen=True)
class Pack:
    id: str
    stars: int
    # VIBE units credited
    vibe: int


def parse_packs(spec: str) -> tuple[Pack, ...]:
    """`50:100,250:550` (stars:VIBE, VIBE a human amount) -> packs with ids `stars_50`, ...

    Raises ValueError for a malformed entry or two packs at one price.
    """
    packs: list[Pack] = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        stars_text, sep, vibe_text = entry.partition(":")
        stars_text = stars_text.strip()
        if not sep or not stars_text.isascii() or not stars_text.isdigit():
            raise ValueError(f"pack {entry!r} must look like 50:100 (stars:VIBE)")
        stars = int(stars_text)
        if not 1 <= stars <= MAX_STARS:
            raise ValueError(f"pack {entry!r}: stars must be 1..{MAX_STARS}")
        vibe = parse_amount(vibe_text, DEFAULT_ASSET_DECIMALS)
        packs.append(Pack(id=f"stars_{stars}", stars=stars, vibe=vibe))
    if len({p.id for p in packs}) != len(packs):
        raise ValueError("two packs have the same price in stars")
    return tuple(packs)


def find_pack(packs: tuple[Pack, ...], pack_id: str) -> Pack | None:
    return next((p for p in packs if p.id == pack_id), None)
