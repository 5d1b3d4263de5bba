from db.models.auth import User
from db.models.base import Base
from db.models.ops import OutboxMessage

__all__ = ["Base", "OutboxMessage", "User"]
