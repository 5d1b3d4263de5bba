"""Many "you received" notices to one chat, sent as one message.

A burst of small transfers to one person would otherwise be as many messages, each waiting
its second of the chat's rate: the claim takes a chat's due notices of these templates
together (at most once per window) and they go out as one summary, marked sent together.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from services.i18n import Catalog

# The transfer notices' templates (services/transfers/service.py writes them).
SUMMARIZED = ("send.received", "send.received_memo")
MAX_NAMES = 3


def summary_text(catalog: Catalog, language: str, notices: Sequence[Mapping[str, Any]]) -> str:
    """One text for `notices` (their params): how many, the total per asset, from whom."""
    totals: dict[str, Decimal] = {}
    for notice in notices:
        try:
            amount = Decimal(str(notice.get("amount")))
        except InvalidOperation:
            continue
        asset = str(notice.get("asset") or "")
        totals[asset] = totals.get(asset, Decimal(0)) + amount
    # Who sent the most first (ties in the order they came).
    senders = [
        name
        for name, _ in Counter(str(n["sender"]) for n in notices if n.get("sender")).most_common()
    ]
    count = len(notices)
    key = "send.received_summary" if len(senders) <= MAX_NAMES else "send.received_summary_more"
    return catalog.get(
        language,
        key,
        count=count,
        total=", ".join(f"{_plain(total)} {asset}".strip() for asset, total in totals.items()),
        senders=", ".join(senders[:MAX_NAMES]),
        others=len(senders) - MAX_NAMES,
    )


def _plain(amount: Decimal) -> str:
    """10.50 -> "10.5", 100 -> "100": the way `format_amount` writes amounts."""
    text = format(amount, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
