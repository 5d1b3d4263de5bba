from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Mapped classes only; the schema itself is owned by the alembic migrations."""
