"""Weak settings are refused at start, in one line naming what to change: a key file other
users can read, webhook secrets short enough to guess. A refused start leaves nothing behind."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from bot.app import build_services
from bot.config import ConfigError, Environment
from bot.telegram.settings import TelegramEnv
from bot.whatsapp.channel import Settings
from handlers.clock import FixedClock
from tests.conftest import START, Chat, register


def key_file_env(path: Path) -> Environment:
    return Environment(secret_key="", secret_key_file=path)


async def test_a_key_file_others_can_read_is_refused_with_chmod_600(tmp_path: Path) -> None:
    key_file = tmp_path / "var" / "secret.key"
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    svc = await build_services(None, url, clock=FixedClock(START), env=key_file_env(key_file))
    await svc.db.dispose()
    assert key_file.stat().st_mode & 0o777 == 0o600
    for mode in (0o644, 0o640, 0o604):
        key_file.chmod(mode)
        with pytest.raises(ConfigError) as refused:
            await build_services(None, url, clock=FixedClock(START), env=key_file_env(key_file))
        message = str(refused.value)
        assert "\n" not in message and f"chmod 600 {key_file}" in message
    key_file.chmod(0o600)
    svc = await build_services(None, url, clock=FixedClock(START), env=key_file_env(key_file))
    await svc.db.dispose()


async def test_a_refused_start_leaves_no_new_key_behind(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    svc = await build_services(None, url, clock=FixedClock(START),
                               env=Environment(secret_key=secrets.token_urlsafe(48),
                                               secret_key_file=tmp_path / "unused.key"))
    assert await register(Chat(svc, "tg:1"))
    await svc.db.dispose()
    # The same database, started without its key: refused, and no unrelated key file appears.
    missing = tmp_path / "var" / "secret.key"
    with pytest.raises(ConfigError):
        await build_services(None, url, clock=FixedClock(START), env=key_file_env(missing))
    assert not missing.exists()
    assert not missing.parent.exists() or list(missing.parent.iterdir()) == []
    assert "Keep it" not in caplog.text
    # A new database with no key: the key is generated and kept, as before.
    fresh = await build_services(None, f"sqlite:///{tmp_path / 'new.sqlite3'}", clock=FixedClock(START),
                                 env=key_file_env(missing))
    await fresh.db.dispose()
    assert missing.exists() and os.stat(missing).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("secret", ["x", " ", "short-secret", " " * 20, "a" * 15])
def test_short_telegram_webhook_secrets_are_refused(secret: str) -> None:
    with pytest.raises(ConfigError) as refused:
        TelegramEnv.from_environ({"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": secret})
    assert "TELEGRAM_WEBHOOK_SECRET" in str(refused.value) and "\n" not in str(refused.value)


def test_a_long_enough_telegram_secret_starts() -> None:
    env = TelegramEnv.from_environ({"TELEGRAM_BOT_TOKEN": "123:abc", "TELEGRAM_WEBHOOK_SECRET": "a" * 16})
    assert env.webhook_mode


@pytest.mark.parametrize(("name", "value"), [("WHATSAPP_APP_SECRET", " "), ("WHATSAPP_APP_SECRET", "abc"),
                                             ("WHATSAPP_APP_SECRET", " " + "a" * 32),
                                             ("WHATSAPP_VERIFY_TOKEN", "v")])
def test_short_whatsapp_secrets_are_refused(name: str, value: str) -> None:
    environ = {"WHATSAPP_PHONE_NUMBER_ID": "1", "WHATSAPP_ACCESS_TOKEN": "t",
               "WHATSAPP_APP_SECRET": "0123456789abcdef0123456789abcdef", "WHATSAPP_VERIFY_TOKEN": "a-long-verify-token"}
    Settings.from_environ(environ)  # the good ones start
    with pytest.raises(ConfigError) as refused:
        Settings.from_environ({**environ, name: value})
    assert name in str(refused.value) and "\n" not in str(refused.value)
