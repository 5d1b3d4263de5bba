"""/grant @user 10 VIBE reason and /revoke ...: admins mint and burn through issuance."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.filters import IsAdmin
from db.database import Database
from db.models import User
from services.errors import DomainError
from services.i18n import Translator
from services.ledger.amounts import format_amount, parse_amount
from services.ledger.service import grant, revoke
from services.transfers.config import LedgerConfig
from services.transfers.errors import InvalidMemo
from services.transfers.service import MAX_MEMO, display_name, resolve_recipient
from services.validation import clean_text

# Refusals whose reply names the asset's limit.
_LIMITS = ("amount_too_large", "supply_exceeded")


async def _refuse(message: Message, t: Translator) -> None:
    await message.answer(t("admin.refused"))


async def _mint_or_burn(
    message: Message,
    command: CommandObject,
    user: User,
    t: Translator,
    db: Database,
    ledger: LedgerConfig,
) -> None:
    name = (command.command or "").lower()
    words = (command.args or "").split()
    if len(words) < 3:
        await message.answer(t(f"admin.{name}_usage"))
        return
    reference, amount_text, code = words[0], words[1], words[2]
    # The reason goes into the ledger's metadata and the user's notice: no NUL or controls.
    reason = clean_text(" ".join(words[3:]) or "-", max_length=MAX_MEMO, error=InvalidMemo)
    # The cause is the command message itself: a re-delivered update replays, never grants twice.
    cause = f"{message.chat.id}:{message.message_id}"
    async with db.service() as session:
        asset = await ledger.assets.get(session, code)
        amount = parse_amount(amount_text, asset.decimals)
        recipient = await resolve_recipient(session, reference)
        action = grant if name == "grant" else revoke
        try:
            await action(
                session,
                admin=user,
                cause=cause,
                user=recipient,
                asset=asset,
                amount=amount,
                reason=reason,
            )
        except DomainError as error:
            # The admin is told the limit, or what can be revoked, to correct the command.
            if error.code in _LIMITS and "max" in error.details:
                await message.answer(t(f"admin.{error.code}", **error.details))
            elif error.code == "insufficient_funds" and "available" in error.details:
                who = display_name(recipient)
                await message.answer(t("admin.revoke_short", recipient=who, **error.details))
            else:
                raise
            return
    await message.answer(
        t(
            f"admin.{name}_done",
            amount=format_amount(amount, asset.decimals),
            asset=asset.code,
            recipient=display_name(recipient),
        )
    )


def build_router() -> Router:
    router = Router(name="token_admin")
    commands = Command("grant", "revoke")
    router.message.register(_mint_or_burn, commands, IsAdmin())
    # Anyone else is refused, whatever the arguments.
    router.message.register(_refuse, commands)
    return router
