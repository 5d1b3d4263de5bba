"""Purchases as both doors use them: the rules, the database and Telegram's Stars methods."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from db.database import Database
from db.models import User
from services.errors import InsufficientFunds
from services.purchases.batcher import PurchaseBatcher
from services.purchases.errors import StarsUnavailable
from services.purchases.gateway import StarsGateway
from services.purchases.packs import Pack
from services.purchases.schemas import InvoiceTerms
from services.purchases.service import (
    Credit,
    PurchaseConfig,
    Refund,
    check_refund,
    pack_of,
    payment_of,
    record_refund,
)

log = logging.getLogger(__name__)

# A refund reads the buyer's balance, then takes back what is there; another refund or a
# spend of theirs committing in between makes the ledger refuse the take-back. Each attempt
# reads afresh, and what others take only shrinks the balance: a few attempts settle it.
_REFUND_ATTEMPTS = 5


@dataclass(frozen=True)
class Purchases:
    db: Database
    config: PurchaseConfig
    # None: no bot to reach Telegram (an API without BOT_TOKEN); invoice links are refused.
    stars: StarsGateway | None
    # The bot's @username and the Mini App's short name, for referral links.
    bot_username: str
    app_name: str
    # Concurrent payments share a statement; built from `db` and `config`.
    batcher: PurchaseBatcher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "batcher", PurchaseBatcher(self.db, self.config))

    @property
    def packs(self) -> tuple[Pack, ...]:
        return self.config.packs

    async def username(self) -> str:
        """The bot's @username: the setting, else Telegram's answer."""
        if self.bot_username or self.stars is None:
            return self.bot_username
        return await self.stars.bot_username()

    async def invoice_link(self, buyer: User, pack_id: str, *, title: str, description: str) -> str:
        """Raises PackNotFound, StarsUnavailable."""
        pack = pack_of(self.config, pack_id)
        if self.stars is None:
            raise StarsUnavailable("payments are not available right now")
        terms = InvoiceTerms.of(pack, buyer.telegram_id)
        return await self.stars.invoice_link(
            title=title, description=description, payload=terms.payload(), stars=pack.stars
        )

    async def credit(
        self, buyer: User, *, charge_id: str, payload: str, currency: str, total: int
    ) -> Credit:
        """Credit a `successful_payment` once (a replay answers `replayed`). Raises
        InvalidInvoice for a payment that is not ours, and the ledger's error for one it refuses.
        """
        payment = payment_of(
            buyer, charge_id=charge_id, payload=payload, currency=currency, total=total
        )
        return await self.batcher.credit(payment)

    async def refund(self, charge_id: str, *, force: bool) -> Refund:
        """An admin's refund: checked (TokensSpent with the figures unless `force`), the Stars
        given back through Telegram, then recorded. A crash after Telegram's refund is finished
        by the `refunded_payment` update Telegram sends, which takes the same path.

        Raises PurchaseNotFound, AlreadyRefunded, TokensSpent, RefundFailed, StarsUnavailable.
        """
        if self.stars is None:
            raise StarsUnavailable("payments are not available right now")
        async with self.db.service() as session:
            check = await check_refund(session, charge_id, force=force)
        await self.stars.refund(telegram_id=check.buyer_telegram_id, charge_id=charge_id)
        return await self.refunded(charge_id)

    async def refunded(self, charge_id: str) -> Refund:
        """The Stars are back with the buyer: record it (whatever they spent becomes a debt).
        Raises PurchaseNotFound."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(InsufficientFunds),
            stop=stop_after_attempt(_REFUND_ATTEMPTS),
            reraise=True,
        ):
            with attempt:
                async with self.db.service() as session:
                    return await record_refund(session, self.config, charge_id)
        raise AssertionError("unreachable: the last attempt returns or raises")
