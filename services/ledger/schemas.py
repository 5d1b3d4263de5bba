"""What the ledger takes and gives back: transfer requests, balances, history items."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

TransferKind = Literal["single", "pending"]
Resolution = Literal["post", "void", "expire"]


@dataclass(frozen=True)
class Asset:
    """`max_amount`: the most one transfer may credit to a holder (a user, fees, escrow);
    `max_supply`: the most a minting account (issuance and the other accounts that may go
    negative) may have outstanding. Both in smallest units, enforced by tokens.create_transfers;
    None only for an Asset built by hand (tests), which leaves the checks to the database.
    """

    code: str
    name: str
    decimals: int
    transferable: bool
    max_supply: int | None = None
    max_amount: int | None = None


@dataclass(frozen=True)
class Transfer:
    """Debit one account, credit another of the same asset; `kind="pending"` makes it a hold.

    Accounts are addresses: `user_account(user_id)` or `system_account("fees")`.
    `group`: in an unlinked batch, consecutive transfers with the same number are linked.
    `daily_limit` caps what the debit account may move per UTC day with this `code` (or with
    `limit_code`, when given: kinds of transfer that share one limit, like a gift and a P2P
    send), counting the transfers of the day that carried a limit on the same counter.
    """

    id: UUID
    debit: str
    credit: str
    asset: str
    amount: int
    code: str
    metadata: dict[str, Any] = field(default_factory=dict)
    kind: TransferKind = "single"
    timeout: int | None = None
    daily_limit: int | None = None
    limit_code: str | None = None
    group: int | None = None

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": str(self.id),
            "kind": self.kind,
            "debit": self.debit,
            "credit": self.credit,
            "asset": self.asset,
            "amount": str(self.amount),
            "code": self.code,
            "metadata": self.metadata,
        }
        if self.timeout is not None:
            item["timeout"] = self.timeout
        if self.daily_limit is not None:
            item["daily_limit"] = str(self.daily_limit)
        if self.limit_code is not None:
            item["limit_code"] = self.limit_code
        if self.group is not None:
            item["group"] = self.group
        return item


@dataclass(frozen=True)
class ResolveHold:
    """Post (fully, or `amount` of it), void, or expire the hold `pending_id`, once."""

    id: UUID
    pending_id: UUID
    kind: Resolution
    amount: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": str(self.id),
            "kind": self.kind,
            "pending_id": str(self.pending_id),
            "metadata": self.metadata,
        }
        if self.amount is not None:
            item["amount"] = str(self.amount)
        return item


@dataclass(frozen=True)
class Outcome:
    """A successful batch; `replayed` says every id had already been applied before."""

    results: tuple[str, ...]

    @property
    def replayed(self) -> bool:
        return all(result == "exists" for result in self.results)


Units = str  # an integer count of the asset's smallest unit, as a JSON string


class AssetOut(BaseModel):
    code: str
    name: str
    decimals: int = Field(
        description="Digits after the point: amounts are integers of 10^-decimals"
    )
    transferable: bool = Field(description="Whether users may send it to each other")


class BalanceOut(BaseModel):
    asset: str
    decimals: int
    available: Units = Field(description="Spendable now: posted minus funds on hold")
    pending: Units = Field(description="Funds on hold (reserved by pending transfers)")
    posted: Units = Field(description="Settled balance: posted credits minus posted debits")


class Counterparty(BaseModel):
    id: UUID
    username: str | None
    first_name: str


class TransactionOut(BaseModel):
    id: UUID
    asset: str
    decimals: int
    amount: Units
    direction: Literal["in", "out"]
    code: str = Field(description="Why the tokens moved: p2p, p2p_fee, welcome_bonus, grant, ...")
    status: Literal["posted", "pending", "voided", "expired"]
    counterparty: Counterparty | None = Field(description="The other user, if a user")
    memo: str | None
    created_at: datetime
