"""Why a realtime subscription is refused."""

from __future__ import annotations

from services.errors import RateLimited


class TooManyConnections(RateLimited):
    """The user already has the most sockets one instance keeps open for one user."""

    code = "too_many_connections"
