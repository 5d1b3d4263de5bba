from __future__ import annotations

import pytest

from bot.settings import BotMode, SettingsError, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.chdir(tmp_path)  # type: ignore[arg-type]  # no stray .env
    for name in (
        "BOT_TOKEN",
        "DATABASE_URL",
        "ADMIN_IDS",
        "BOT_MODE",
        "API_PORT",
        "CORS_ORIGINS",
        "LOG_LEVEL",
        "WEBAPP_URL",
        "API_HOST",
    ):
        monkeypatch.delenv(name, raising=False)


def test_defaults_run_locally() -> None:
    settings = load_settings()
    assert settings.bot_token is None and settings.database_url is None
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 8080)
    assert settings.bot_mode is BotMode.POLLING
    assert settings.webapp_url == "http://127.0.0.1:8080/app/"


def test_mini_app_url_follows_the_api_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PORT", "9000")
    assert load_settings().webapp_url == "http://127.0.0.1:9000/app/"
    monkeypatch.setenv("WEBAPP_URL", "https://app.example.com/")
    assert load_settings().webapp_url == "https://app.example.com/"


def test_lists_are_parsed_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ADMIN_IDS", "1, 2 3")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    settings = load_settings()
    assert settings.admin_ids == frozenset({1, 2, 3})
    assert settings.cors_origins == ("https://a.example", "https://b.example")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("API_PORT", "eighty"),
        ("BOT_MODE", "carrier-pigeon"),
        ("DATABASE_URL", "mysql://localhost/x"),
        ("LOG_LEVEL", "LOUD"),
        ("ADMIN_IDS", "1,two"),
        ("WEBHOOK_SECRET", "has spaces"),
    ],
)
def test_a_bad_setting_fails_with_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    assert name in message and "\n" not in message


def test_webhook_mode_needs_its_url_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "1:x")
    monkeypatch.setenv("BOT_MODE", "webhook")
    with pytest.raises(SettingsError, match="WEBHOOK_BASE_URL"):
        load_settings()
    monkeypatch.setenv("WEBHOOK_BASE_URL", "https://bot.example")
    with pytest.raises(SettingsError, match="WEBHOOK_SECRET"):
        load_settings()
