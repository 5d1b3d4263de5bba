"""Connection URLs: the owner's (migrations) and the app's (a login role that owns nothing)."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

APP_LOGIN_ROLE = "gv_app"


def async_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


def app_url_from_owner(owner_url: str) -> str:
    """The app logs in as `gv_app` on the same server and database as the owner."""
    parsed = make_url(owner_url).set(username=APP_LOGIN_ROLE, password=None)
    return parsed.render_as_string(hide_password=False)


def asyncpg_dsn(url: str) -> str:
    """A DSN asyncpg understands directly (no SQLAlchemy driver suffix)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)
