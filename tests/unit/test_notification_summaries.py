from __future__ import annotations

from services.i18n import Catalog
from services.notifications.summaries import summary_text


def test_summary_totals_per_asset_and_names_the_biggest_senders(catalog: Catalog) -> None:
    notices = [
        {"amount": "0.1", "asset": "VIBE", "sender": "@bob"},
        {"amount": "0.25", "asset": "VIBE", "sender": "@ann"},
        {"amount": "0.65", "asset": "VIBE", "sender": "@ann"},
        {"amount": "2", "asset": "TON", "sender": "Zoë <script>"},
        {"amount": "1.000001", "asset": "TON", "sender": "@ann", "memo": "thanks"},
    ]
    assert summary_text(catalog, "en", notices) == (
        "You received <b>5</b> transfers totalling <b>1 VIBE, 3.000001 TON</b>"
        " from <b>@ann, @bob, Zoë &lt;script&gt;</b>."
    )
    assert summary_text(catalog, "ru", notices[:2]).startswith(
        "Вы получили <b>2</b> перевода на сумму <b>0.35 VIBE</b>"
    )
