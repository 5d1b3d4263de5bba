"""Connection URLs: the owner's (migrations) and the app's two logins (they own nothing)."""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

from db.roles import SERVICE_LOGIN, USER_LOGIN

APP_LOGIN_ROLE = SERVICE_LOGIN


def async_url(url: str) -> URL:
    parsed = make_url(url)
    return parsed.set(drivername="postgresql+asyncpg")


def _as_login(url: str, login: str) -> str:
    parsed = make_url(url).set(username=login, password=None)
    return parsed.render_as_string(hide_password=False)


def app_url_from_owner(owner_url: str) -> str:
    """The service login `gv_app`, on the same server and database as the owner."""
    return _as_login(owner_url, SERVICE_LOGIN)


def user_url_from_app(app_url: str) -> str:
    """The user login on the same server and database as the service login."""
    return _as_login(app_url, USER_LOGIN)


def asyncpg_dsn(url: str) -> str:
    """A DSN asyncpg understands directly (no SQLAlchemy driver suffix)."""
    parsed = make_url(url).set(drivername="postgresql")
    return parsed.render_as_string(hide_password=False)
