from __future__ import annotations

from pathlib import Path

import pytest

from app.run import init_data_check
from app.settings import BotMode, InitDataValidation, SettingsError, load_settings
from sandbox.initdata import KEY_FILE, load_signing_key
from webapp_api.initdata import TELEGRAM_PUBLIC_KEYS, ThirdPartyKey


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
        "INIT_DATA_VALIDATION",
        "BOT_ID",
        "TELEGRAM_PUBLIC_KEY",
        "SANDBOX",
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


def test_init_data_validation_modes_and_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().init_data_validation is InitDataValidation.HMAC
    monkeypatch.setenv("INIT_DATA_VALIDATION", "ed25519")
    monkeypatch.setenv("TELEGRAM_PUBLIC_KEY", "TEST")
    settings = load_settings()
    assert settings.init_data_validation is InitDataValidation.ED25519
    assert settings.telegram_public_key == "test"
    monkeypatch.setenv("TELEGRAM_PUBLIC_KEY", "abc")
    with pytest.raises(SettingsError, match="TELEGRAM_PUBLIC_KEY"):
        load_settings()
    monkeypatch.setenv("TELEGRAM_PUBLIC_KEY", "production")
    monkeypatch.setenv("SANDBOX", "false")
    # A service without the token must be told which bot's data it checks.
    with pytest.raises(SettingsError, match="BOT_ID: required when INIT_DATA_VALIDATION=ed25519"):
        load_settings()
    monkeypatch.setenv("BOT_ID", "8000000001")
    check = init_data_check(load_settings(), "7000000001:local")
    assert check.bot_token is None and check.third_party is not None
    assert check.third_party.bot_id == 8000000001
    assert check.third_party.public_key == TELEGRAM_PUBLIC_KEYS["production"]


def test_init_data_check_per_mode(tmp_path: Path) -> None:
    token = "8000000002:real-token"
    hmac = init_data_check(load_settings(bot_token=token), token)
    assert hmac.bot_token == token and hmac.third_party is None
    both = init_data_check(load_settings(bot_token=token, init_data_validation="both"), token)
    assert both.bot_token == token and both.third_party is not None
    # With a real token the default key is Telegram's production key, the bot id the token's.
    assert both.third_party.bot_id == 8000000002
    assert both.third_party.public_key == TELEGRAM_PUBLIC_KEYS["production"]
    # In local mode the default key is the sandbox's own, kept in DATA_DIR.
    local = load_settings(init_data_validation="ed25519", data_dir=tmp_path)
    check = init_data_check(local, "7000000001:local")
    sandbox_key = load_signing_key(tmp_path / KEY_FILE).public_key().public_bytes_raw()
    assert check.third_party is not None and check.third_party.public_key == sandbox_key
    assert check.third_party.bot_id == 7000000001
    # A BOT_ID without a token is a service checking a real bot's data: Telegram's key.
    worker = load_settings(init_data_validation="ed25519", bot_id=8000000003, data_dir=tmp_path)
    worker_check = init_data_check(worker, "7000000001:local").third_party
    assert worker_check == ThirdPartyKey(8000000003, TELEGRAM_PUBLIC_KEYS["production"])
    hex_key = "11" * 32
    explicit = load_settings(
        bot_token=token, init_data_validation="ed25519", telegram_public_key=hex_key
    )
    assert init_data_check(explicit, token).third_party == ThirdPartyKey(
        8000000002, bytes.fromhex(hex_key)
    )
