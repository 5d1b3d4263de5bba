"""What the API's handlers and middlewares need: the shared `Services` and the door's own config."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from app.services import Services
from db.models import User
from webapp_api.initdata import InitDataCache, InitDataCheck
from webapp_api.miniapp import TELEGRAM_WEB_APP_JS


@dataclass(frozen=True)
class HttpConfig:
    """Settings only the HTTP door reads."""

    # Which initData signatures must hold (INIT_DATA_VALIDATION) and how old it may be.
    init_data_check: InitDataCheck
    init_data_max_age: int
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1_048_576
    # Which Telegram WebApp script the Mini App page loads (the sandbox's shim in local mode).
    telegram_js_url: str = TELEGRAM_WEB_APP_JS
    # initData strings this door already verified (answered only for the same check).
    init_data_cache: InitDataCache = field(default_factory=InitDataCache)


SERVICES = web.AppKey("services", Services)
HTTP_CONFIG = web.AppKey("http_config", HttpConfig)
USER = web.RequestKey("user", User)


def context_of(request: web.Request) -> Services:
    # `config_dict` looks through the sub-app to the root that holds them.
    return request.config_dict[SERVICES]


def http_config(request: web.Request) -> HttpConfig:
    return request.config_dict[HTTP_CONFIG]


def current_user(request: web.Request) -> User:
    return request[USER]
