"""Why a realtime subscription is refused."""

from __future__ import annotations


class TooManyConnections(Exception):
    """The user already has the most sockets one instance keeps open for one user. Not a
    domain error: it only ever becomes a close code (4029), never a text a person reads."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} connections per user")
        self.limit = limit
