"""Promo codes as use cases, the same for the bot and the API: rate limits, then one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from db.database import Database
from db.models import User
from services.ledger.errors import AdminOnly
from services.ledger.schemas import Asset
from services.ledger.service import AssetRegistry
from services.promo import service
from services.promo.batcher import RedemptionBatcher
from services.promo.errors import PromoUnavailable
from services.promo.schemas import Promo, PromoTerms, Redemption, RedemptionRow
from services.ratelimit.limiter import RateLimiter
from services.users.access import is_admin


@dataclass(frozen=True)
class Promos:
    db: Database
    assets: AssetRegistry
    # PROMO_RATE_LIMIT per Telegram user and PROMO_IP_RATE_LIMIT per client address: attempts,
    # successful or not, so guessing codes is slow from one account and from one address.
    user_limit: RateLimiter | None
    ip_limit: RateLimiter | None
    # Concurrent redemptions of one code share a statement and a commit; None: one each.
    batcher: RedemptionBatcher | None = None

    async def asset(self, code: str) -> Asset:
        """Raises AssetNotFound."""
        async with self.db.statement() as conn:
            return await self.assets.get(conn, code)

    async def redeem(
        self, *, user: User, code: str, ip: str | None = None, cause: str | None = None
    ) -> Redemption:
        """`cause` (the bot's chat and message) keys the redemption: Telegram delivering the
        update again gets the first answer. Raises RateLimited, PromoUnavailable and the
        ledger's refusals of the credit."""
        if self.user_limit is not None:
            await self.user_limit.hit(str(user.telegram_id))
        if ip is not None and self.ip_limit is not None:
            await self.ip_limit.hit(ip)
        if self.batcher is None:
            async with self.db.statement() as conn:
                return await service.redeem(conn, user=user, raw_code=code, cause=cause)
        normalized = service.normalize_code(code)
        if normalized is None:
            raise PromoUnavailable("this code is not available")
        return await self.batcher.redeem(service.code_hash(normalized), user.id, cause)

    async def create(
        self,
        *,
        admin: User,
        code: str,
        asset: str,
        amount: int,
        max_uses: int,
        per_user: int = 1,
        budget: int | None = None,
        expires_at: datetime | None = None,
        new_users_only: bool = False,
        min_account_age: int = 0,
    ) -> Promo:
        """Raises AdminOnly, AssetNotFound and what `service.create` raises."""
        if not is_admin(admin):
            raise AdminOnly("only admins may create promo codes")
        async with self.db.service() as session:
            terms = PromoTerms(
                code=code,
                asset=await self.assets.get(session, asset),
                amount=amount,
                max_uses=max_uses,
                per_user=per_user,
                budget=budget,
                expires_at=expires_at,
                new_users_only=new_users_only,
                min_account_age=min_account_age,
            )
            return await service.create(session, admin=admin, terms=terms)

    async def stats(self, *, admin: User, code: str) -> tuple[Promo, list[RedemptionRow]]:
        """The code and its redemptions in order. Raises AdminOnly, PromoNotFound."""
        if not is_admin(admin):
            raise AdminOnly("only admins may see promo codes")
        async with self.db.service() as session:
            promo = await service.get(session, code)
            return promo, await service.redemptions(session, promo.id)
