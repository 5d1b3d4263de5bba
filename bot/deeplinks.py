"""`/start <payload>`: each capability owns a payload prefix and routes it with `deep_link()`.

A capability adds one handler on its own router, included before the start router:

    router.message.register(accept_referral, deep_link(DeepLinkPrefix.REFERRAL))

The handler receives the payload without its prefix as `deep_link`. A `/start` that no
capability takes (no payload, an unknown prefix, a malformed payload) reaches the plain
welcome in `bot.handlers.start`.
"""

from __future__ import annotations

from enum import StrEnum

from aiogram import Bot, F
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import Update

from services.validation import start_payload


class DeepLinkPrefix(StrEnum):
    """Every prefix a `/start` payload may carry, and the capability that owns it."""

    REFERRAL = "ref_"
    GIFT = "gift_"
    PROMO = "promo_"


def is_valid_payload(payload: str) -> bool:
    return start_payload(payload) is not None


async def start_payload_of(update: Update, bot: Bot) -> str | None:
    """The payload of a `/start <payload>` message, as sent (valid or not).

    Read by aiogram's own `CommandStart`, the filter the routers use: user creation must see
    the payload a deep-link handler will see (any whitespace after the command), and nothing
    from a `/start@another_bot` that the routers drop."""
    if update.message is None:
        return None
    found = await CommandStart()(update.message, bot)
    if not isinstance(found, dict):
        return None
    command: CommandObject = found["command"]
    return command.args


def payload_value(prefix: str, payload: str | None) -> str | None:
    """The payload after `prefix`; None unless the payload is valid and carries a value."""
    if payload is None or not is_valid_payload(payload) or not payload.startswith(prefix):
        return None
    return payload[len(prefix) :] or None


def deep_link(prefix: DeepLinkPrefix) -> CommandStart:
    """`/start <prefix><value>` with a valid payload; the handler gets `deep_link=<value>`."""
    value = F.args.func(lambda args: payload_value(prefix, args))
    return CommandStart(deep_link=True, magic=value.as_("deep_link"))
