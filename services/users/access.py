"""What a user may do: the role set from ADMIN_IDS at each contact (`auth.users.role`) and a ban
(`auth.users.banned_at`). Each front door checks these once, at its edge."""

from __future__ import annotations

from typing import Final

from db.models import User

ADMIN_ROLE: Final = "admin"
USER_ROLE: Final = "user"


def is_admin(user: User) -> bool:
    return user.role == ADMIN_ROLE


def is_banned(user: User) -> bool:
    return user.banned_at is not None
