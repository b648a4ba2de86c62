"""A deployer's first day: one environment for the service and every command (--env-file,
BOT_ENV_FILE) and each command saying which database and key it acts with; the first admin
invited without an id; start-up failures in one line; what refuses while the bot runs (keys
rotate, db restore) and the key file after a rotation; backups pruned; exports under var/exports;
/metrics; logs written once; libraries loaded only when used; the kit (systemd hardening,
compose, the wrapper)."""

from __future__ import annotations

import asyncio
import configparser
import io
import logging
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.app import build_services
from bot.cli import main, split_env_file
from bot.config import PROJECT_ROOT, ConfigError, Environment
from conversations.events import Text
from handlers.clock import FixedClock
from handlers.roles import grants_of
from storage.crypto import NikCipher
from storage.db import Database, InUse, describe_database, script_heads
from tests.bot_process import BotProcess, free_port, write_config
from tests.conftest import GOOD_NIK, Chat, register
from tests.fake_telegram import TOKEN, FakeTelegram, running_bot

KEY = "f" * 48
CHANNEL_VARIABLES = ("TELEGRAM_", "WHATSAPP_", "DATABASE_", "BOT_", "LOCK_", "REDIS_", "METRICS_")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """No channel, database or key settings from outside; the environment as it was afterwards
    (an environment file read by main() sets variables no monkeypatch knows of)."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(CHANNEL_VARIABLES) or name in ("LOG_LEVEL", "LOG_FORMAT", "HOST", "PORT"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    yield tmp_path
    os.environ.clear()
    os.environ.update(saved)


async def main_aside(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


def env_file(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()), encoding="utf-8")
    path.chmod(0o640)
    return path


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- one environment everywhere ---------------------------------------------------------------------

def test_env_file_is_taken_out_of_the_command_line_wherever_it_is() -> None:
    assert split_env_file(["--env-file", "/e", "db", "backup"]) == ("/e", ["db", "backup"])
    assert split_env_file(["db", "backup", "--env-file=/e", "--keep", "3"]) == ("/e", ["db", "backup", "--keep", "3"])
    assert split_env_file(["export", "--", "--env-file"]) == (None, ["export", "--", "--env-file"])
    with pytest.raises(ConfigError):
        split_env_file(["export", "--env-file"])


def test_every_command_reads_the_services_environment_file_and_says_what_it_acts_on(
        clean_env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    database = clean_env / "service" / "bot.sqlite3"
    service_env = env_file(clean_env / "env", DATABASE_URL=f"sqlite:///{database}", BOT_SECRET_KEY=KEY)
    assert main(["--env-file", str(service_env), "db", "upgrade"]) == 0
    assert database.exists()
    capsys.readouterr()
    # After the command too, and from BOT_ENV_FILE: the same database, the same key.
    assert main(["export", "--status", "all", "--env-file", str(service_env)]) == 0
    first = lines_of(capsys.readouterr().err)[0]
    fingerprint = NikCipher(KEY.encode()).fingerprint
    assert first == f"using database sqlite file {database}; key {fingerprint}", first
    monkeypatch.setenv("BOT_ENV_FILE", str(service_env))
    assert main(["officials", "list"]) == 0
    assert lines_of(capsys.readouterr().err)[0] == first
    assert KEY not in first


@pytest.mark.parametrize("problem", ["missing", "world-readable"])
def test_an_environment_file_that_cannot_be_used_is_one_line(
        problem: str, clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = clean_env / "env"
    if problem == "world-readable":
        env_file(path, BOT_SECRET_KEY=KEY).chmod(0o644)
    assert main(["--env-file", str(path), "export"]) == 2
    err = lines_of(capsys.readouterr().err)
    assert len(err) == 1 and str(path) in err[0] and "--env-file" in err[0]
    assert ("chmod 640" in err[0]) == (problem == "world-readable")


def test_the_database_is_named_without_its_password() -> None:
    shown = describe_database("postgresql+asyncpg://bot:hunter2secret@db.local:5433/bot?password=again")
    assert shown == "postgresql://bot@db.local:5433/bot"
    assert describe_database("sqlite+aiosqlite:////srv/bot/var/bot.sqlite3") == "sqlite file /srv/bot/var/bot.sqlite3"


async def test_db_commands_name_the_database_and_the_key_it_records(
        clean_env: Path, postgres_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["BOT_SECRET_KEY"] = KEY
    with_password = postgres_url.replace("postgres@", "postgres:topsecret@")
    assert await main_aside(["db", "upgrade", "--db", with_password]) == 0
    assert await main_aside(["export", "--db", with_password]) == 0  # records the key's fingerprint
    capsys.readouterr()
    assert await main_aside(["db", "current", "--db", with_password]) == 0
    err = capsys.readouterr().err
    first = lines_of(err)[0]
    assert first.startswith("using database postgresql://postgres@127.0.0.1:5432/")
    assert NikCipher(KEY.encode()).fingerprint in first and "recorded in the database" in first
    assert "topsecret" not in err and "***" not in first


# -- the first admin --------------------------------------------------------------------------------

async def test_the_first_admin_is_invited_without_knowing_an_id(
        clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{clean_env / 'bot.sqlite3'}"
    os.environ.update(BOT_SECRET_KEY=KEY, TELEGRAM_BOT_USERNAME="SijunjungBot",
                      WHATSAPP_DISPLAY_NUMBER="+62 811-6600-123")
    assert await main_aside(["officials", "invite", "--role", "admin", "--db", db]) == 0
    out = capsys.readouterr().out
    code = re.search(r"^code: ([A-Z0-9]{8}) \(role admin", out, re.M)
    assert code, out
    code_text = code.group(1)
    assert f"telegram: https://t.me/SijunjungBot?start=kode-{code_text}" in out
    assert f"whatsapp: https://wa.me/628116600123?text=%2Fkode%20{code_text}" in out
    from bot.telegram.adapter import start_parameter

    assert start_parameter(f"/start kode-{code_text}") == f"kode-{code_text}"  # what Telegram sends
    # The command dated the invitation by the real clock: the chat reads it by the same clock
    # (whatever today is), as the running bot would.
    svc = await build_services(None, db, env=Environment(secret_key=KEY, secret_key_file=clean_env / "unused.key"))
    try:
        # The deep link opened on Telegram: "/start kode-<CODE>" -> the role.
        admin = Chat(svc, "tg:555")
        await admin.send(Text("/start", link=f"kode-{code_text}"))
        assert "official.code.ok" in admin.keys, admin.keys
        async with svc.db.session() as session:
            assert [g.role for g in await grants_of(session, "tg:555")] == ["admin"]
        # One use: the WhatsApp link's text, sent by somebody else afterwards, is refused.
        late = Chat(svc, "wa:6281234567890")
        await late(f"/kode {code_text}")
        assert "official.code.invalid" in late.keys
    finally:
        await svc.db.dispose()
    # An operator's invitation needs a nagari; without link targets only the code is printed.
    del os.environ["TELEGRAM_BOT_USERNAME"], os.environ["WHATSAPP_DISPLAY_NUMBER"]
    assert await main_aside(["officials", "invite", "--role", "operator", "--db", db]) == 2
    assert len(lines_of(capsys.readouterr().err)) == 2  # the database and key, then the refusal
    assert await main_aside(["officials", "invite", "--role", "operator", "--nagari", "Muaro", "--db", db]) == 0
    captured = capsys.readouterr()
    assert "code: " in captured.out and "https://" not in captured.out and "/kode " in captured.err


# -- failures in one line -----------------------------------------------------------------------------

async def run_briefly(env: dict[str, str], stdin: int = asyncio.subprocess.DEVNULL) -> tuple[int, list[str], str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(CHANNEL_VARIABLES)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=PROJECT_ROOT, env={**base, "LOG_LEVEL": "WARNING", **env},
        stdin=stdin, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(process.communicate(), 120)
    text = err.decode()
    return process.returncode or 0, lines_of(text), text


@pytest.mark.slow
@pytest.mark.parametrize("case", ["malformed token", "refused token", "unreachable database", "no channel"])
async def test_run_refuses_in_one_line_naming_the_setting(case: str, tmp_path: Path, fake: FakeTelegram) -> None:
    env = {"BOT_SECRET_KEY": KEY, "PORT": str(free_port()), "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}",
           "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE": fake.url}
    named, secret = "TELEGRAM_BOT_TOKEN", TOKEN
    if case == "malformed token":
        env["TELEGRAM_BOT_TOKEN"] = secret = "not a bot token at all"
    elif case == "refused token":
        fake.fail("getMe", 401, description="Unauthorized")
    elif case == "unreachable database":
        env["DATABASE_URL"] = "postgresql://bot:hunter2secret@127.0.0.1:1/bot"
        named, secret = "DATABASE_URL", "hunter2secret"
    else:
        del env["TELEGRAM_BOT_TOKEN"]
        named, secret = "TELEGRAM_BOT_TOKEN", KEY
    code, lines, text = await run_briefly(env)
    assert code == 2, text[-2000:]
    assert len(lines) == 1 and "Traceback" not in text, text[-2000:]
    assert named in lines[0] and secret not in text, lines[0]


# -- safety ---------------------------------------------------------------------------------------------

def key_env(key: str, tmp_path: Path) -> Environment:
    return Environment(secret_key=key, secret_key_file=tmp_path / "unused.key")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_rotation_and_restore_refuse_while_a_service_runs_unless_forced(
        backend: str, request: pytest.FixtureRequest, clean_env: Path, clock: FixedClock,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{clean_env / 'bot.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    if backend == "postgres" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore (PostgreSQL client tools) are not installed")
    os.environ["BOT_SECRET_KEY"] = KEY
    svc = await build_services(None, url, clock=clock, env=key_env(KEY, clean_env))
    await register(Chat(svc, "tg:1"))
    backup = clean_env / "backups" / "bot-1.backup"
    assert await main_aside(["db", "backup", "--db", url, "--out", str(backup)]) == 0
    new_key = clean_env / "new.key"
    assert await main_aside(["keys", "new", "--out", str(new_key)]) == 0
    capsys.readouterr()
    async with svc.db.in_service():  # what `run` and `worker` hold while they run
        assert await main_aside(["keys", "rotate", "--db", url, "--new-key-file", str(new_key)]) == 1
        assert "stop the service" in capsys.readouterr().err
        assert await main_aside(["db", "restore", "--db", url, str(backup), "--yes"]) == 1
        assert "--force" in capsys.readouterr().err
        # Forced: the check is skipped (the service here is idle: its connections closed).
        await svc.db.engine.dispose()
        assert await main_aside(["db", "restore", "--db", url, str(backup), "--yes", "--force"]) == 0
    await svc.db.dispose()
    assert await main_aside(["db", "restore", "--db", url, str(backup), "--yes"]) == 0
    assert await main_aside(["keys", "rotate", "--db", url, "--new-key-file", str(new_key)]) == 0


async def test_another_process_connected_to_postgresql_is_named(clean_env: Path, postgres_url: str) -> None:
    import asyncpg

    database = Database(postgres_url)
    other = await asyncpg.connect(postgres_url, server_settings={"application_name": "sijunjung-bot pid 1 on elsewhere"})
    try:
        with pytest.raises(InUse, match="pid 1 on elsewhere"):
            async with database.exclusive():
                pass
    finally:
        await other.close()
    async with database.exclusive():  # alone now
        pass
    await database.dispose()


@pytest.mark.slow
async def test_a_running_bot_process_holds_off_a_rotation(tmp_path: Path, fake: FakeTelegram,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    bot = BotProcess(fake, f"sqlite:///{tmp_path / 'bot.sqlite3'}", KEY, write_config(tmp_path / "config.yaml"),
                     tmp_path / "bot.log")
    await bot.start()
    monkeypatch.setenv("BOT_SECRET_KEY", KEY)
    new_key = tmp_path / "new.key"
    try:
        assert await main_aside(["keys", "new", "--out", str(new_key)]) == 0
        assert await main_aside(["keys", "rotate", "--db", bot.database_url, "--new-key-file", str(new_key)]) == 1
        assert "the bot is running on this database" in capsys.readouterr().err
    finally:
        bot.signal(15)
        assert await bot.wait(60) == 0


async def test_a_rotation_replaces_the_key_file_and_keeps_the_old_key(
        clean_env: Path, clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    key_file = clean_env / "var" / "secret.key"
    os.environ["BOT_SECRET_KEY_FILE"] = str(key_file)
    url = f"sqlite:///{clean_env / 'var' / 'bot.sqlite3'}"
    env = Environment(secret_key="", secret_key_file=key_file)
    svc = await build_services(None, url, clock=clock, env=env)  # generates the key file
    await register(Chat(svc, "tg:1"))
    await svc.db.dispose()
    first = key_file.read_bytes().strip()
    keys = []
    for n in (1, 2):
        new_key = clean_env / f"new{n}.key"
        assert await main_aside(["keys", "new", "--out", str(new_key)]) == 0
        assert await main_aside(["keys", "rotate", "--db", url, "--new-key-file", str(new_key)]) == 0
        keys.append(new_key.read_bytes().strip())
        assert key_file.read_bytes().strip() == keys[-1] and mode(key_file) == 0o600
    assert "old one is kept in" in capsys.readouterr().err
    old = key_file.with_name("secret.key.old")
    # The last key before the current one is .old; the one before that was moved aside, not lost.
    assert old.read_bytes().strip() == keys[0] and mode(old) == 0o600
    assert old.with_name("secret.key.old.2").read_bytes().strip() == first
    assert not [p for p in key_file.parent.iterdir() if p.name.startswith(".secret.key")]  # no draft left
    again = await build_services(None, url, clock=clock, env=env)
    async with again.db.session() as session:
        from storage.repo import Repository

        assert await Repository(session, again.cipher).registration_by_nik(GOOD_NIK) is not None
    await again.db.dispose()


def test_keys_export_writes_the_key_for_safekeeping(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["BOT_SECRET_KEY"] = KEY
    db = str(clean_env / "bot.sqlite3")
    assert main(["keys", "export", "--db", db]) == 0
    captured = capsys.readouterr()
    assert captured.out == KEY + "\n" and NikCipher(KEY.encode()).fingerprint in captured.err
    out = clean_env / "copy.key"
    assert main(["keys", "export", "--db", db, "--out", str(out)]) == 0
    assert out.read_text() == KEY + "\n" and mode(out) == 0o600
    assert main(["keys", "export", "--db", db, "--out", str(out)]) == 1  # never overwritten


def test_backups_are_pruned_to_the_newest_n(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["BOT_SECRET_KEY"] = KEY
    db = str(clean_env / "bot.sqlite3")
    folder = clean_env / "backups"
    folder.mkdir()
    (folder / "notes.txt").write_text("kept: not a backup")
    for n in range(4):
        out = folder / f"bot-2026-12-0{n + 1}.sqlite3"
        assert main(["db", "backup", "--db", db, "--out", str(out), "--keep", "2"]) == 0
        os.utime(out, (1_000_000 + n, 1_000_000 + n))  # written in this order
    assert sorted(p.name for p in folder.iterdir()) == ["bot-2026-12-03.sqlite3", "bot-2026-12-04.sqlite3", "notes.txt"]
    assert "deleted 1" in capsys.readouterr().err
    assert main(["db", "backup", "--db", db, "--out", str(folder / "bot-x.sqlite3"), "--keep", "0"]) == 1


def test_an_xlsx_export_goes_under_the_export_folder(clean_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    os.environ["BOT_SECRET_KEY"] = KEY
    exports = clean_env / "var" / "exports"
    config = write_config(clean_env / "config.yaml", officials={"export_dir": str(exports)})
    db = str(clean_env / "bot.sqlite3")
    assert main(["export", "--format", "xlsx", "--status", "all", "--db", db, "--config", str(config)]) == 0
    written = list(exports.glob("*.xlsx"))
    assert len(written) == 1 and mode(written[0]) == 0o600 and mode(exports) == 0o700
    assert str(exports) in capsys.readouterr().err


def test_the_migrations_heads_are_read_without_alembic() -> None:
    from alembic.script import ScriptDirectory

    from storage.db import alembic_config

    assert set(script_heads()) == set(ScriptDirectory.from_config(alembic_config()).get_heads())


# -- /metrics ---------------------------------------------------------------------------------------------

def sample(name: str, **labels: str) -> float:
    from handlers.metrics import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_count_updates_turns_and_sends_and_read_the_database_when_scraped(
        svc: Any, fake: FakeTelegram) -> None:
    from aiohttp import ClientSession

    received = sample("sijunjung_bot_updates_received_total", channel="tg")
    handled = sample("sijunjung_bot_updates_handled_total", channel="tg")
    sent_ok = sample("sijunjung_bot_sends_total", channel="tg", result="ok")
    throttled = sample("sijunjung_bot_sends_total", channel="tg", result="429")
    turns = sample("sijunjung_bot_turn_seconds_count")
    await register(Chat(svc, "tg:4242"))  # one pending registration, through the simulator's path
    fake.fail("sendMessage", 429, retry_after=1)
    async with running_bot(svc, fake, webhook=True) as bot:
        person = bot.person(user_id=700000777)
        assert await person.say("halo")
        base = (bot.webhook or "").rsplit("/telegram/", 1)[0]
        async with ClientSession() as session, session.get(f"{base}/metrics") as response:
            assert response.status == 200 and response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            values = scraped(await response.text())
    assert values[("sijunjung_bot_updates_received_total", (("channel", "tg"),))] == received + 1
    assert sample("sijunjung_bot_updates_handled_total", channel="tg") == handled + 1
    assert sample("sijunjung_bot_sends_total", channel="tg", result="ok") > sent_ok
    assert sample("sijunjung_bot_sends_total", channel="tg", result="429") == throttled + 1
    assert sample("sijunjung_bot_turn_seconds_count") > turns
    assert values[("sijunjung_bot_registrations", (("status", "pending"),))] == 1
    assert values[("sijunjung_bot_registrations", (("status", "approved"),))] == 0
    assert values[("sijunjung_bot_tickets_open", ())] == 0 and values[("sijunjung_bot_database_up", ())] == 1
    assert ("sijunjung_bot_outbox_depth", ()) in values and ("sijunjung_bot_outbox_oldest_due_seconds", ()) in values
    assert any(name == "process_resident_memory_bytes" for name, _ in values)


async def test_metrics_behind_a_bearer_token(svc: Any) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.server import build_app

    app, _ = await build_app(svc, {"METRICS_TOKEN": "s3cret-scrape-token"}, {})
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/metrics")).status == 401
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
        answer = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})
        assert answer.status == 200 and "sijunjung_bot_build_info" in await answer.text()
        assert (await client.get("/healthz")).status == 200  # the token guards /metrics only


def test_metric_labels_never_carry_a_person() -> None:
    from handlers.metrics import channel_of

    assert channel_of("tg:123456789") == "tg" and channel_of("wa:6281234567890") == "wa"
    assert channel_of("assist:tg:1") == "other" and channel_of("6281234567890") == "other"


# -- logs ----------------------------------------------------------------------------------------------------

async def test_each_line_is_logged_once_and_libraries_stay_quiet(svc: Any, fake: FakeTelegram) -> None:
    from bot.logging_setup import setup_logging

    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    async with running_bot(svc, fake, webhook=True) as bot:
        await bot.person(user_id=700000888).say("halo")
        for name, logger in logging.root.manager.loggerDict.items():
            if isinstance(logger, logging.Logger):
                assert all(isinstance(h, logging.NullHandler) for h in logger.handlers), (name, logger.handlers)
        stream.truncate(0)
        stream.seek(0)
        logging.getLogger("bot.first_day").warning("ours, once")
        logging.getLogger("aiogram.event").warning("theirs, once")
        logging.getLogger("aiohttp.access").info("an address: hidden")
        logging.getLogger("fontTools.subset").info("a font table: hidden")
    written = stream.getvalue().splitlines()
    assert sum("ours, once" in line for line in written) == 1 and sum("theirs, once" in line for line in written) == 1
    assert not any("hidden" in line for line in written)


# -- what a process loads -------------------------------------------------------------------------------------

def test_charts_spreadsheets_and_whatsapp_load_only_when_used(tmp_path: Path) -> None:
    """A Telegram-only server, started on a migrated database: no matplotlib, openpyxl, segno,
    pywa or alembic in the process (each is imported by what uses it)."""
    url = f"sqlite:///{tmp_path / 'bot.sqlite3'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(CHANNEL_VARIABLES)} | {"BOT_SECRET_KEY": KEY}
    subprocess.run([sys.executable, "-m", "bot", "db", "upgrade", "--db", url], cwd=PROJECT_ROOT, env=env,
                   check=True, capture_output=True, timeout=120)
    script = f"""
import asyncio, sys
from bot.app import build_services
from bot.commands import CHANNELS
from bot.server import build_app
import bot.cli, bot.worker, bot.metrics

async def main():
    svc = await build_services(None, {url!r})
    environ = {{"TELEGRAM_BOT_TOKEN": {TOKEN!r}, "TELEGRAM_API_BASE": "http://127.0.0.1:{free_port()}"}}
    app, channels = await build_app(svc, environ, {{"tg": CHANNELS["tg"]}})
    for channel in channels:
        await channel.close()
    await svc.db.dispose()
    print(sorted(m for m in ("matplotlib", "openpyxl", "segno", "PIL", "pywa_async", "alembic", "pandas")
                 if m in sys.modules))

asyncio.run(main())
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout


# -- the kit ---------------------------------------------------------------------------------------------------

HARDENING = ("NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectSystem", "ProtectHome", "ReadWritePaths",
             "CapabilityBoundingSet", "ProtectKernelTunables", "ProtectKernelModules", "ProtectKernelLogs",
             "ProtectControlGroups", "RestrictAddressFamilies", "RestrictNamespaces", "LockPersonality",
             "MemoryDenyWriteExecute", "SystemCallFilter", "SystemCallArchitectures", "RestrictSUIDSGID",
             "RestrictRealtime", "UMask")


@pytest.mark.parametrize("name", ["sijunjung-bot.service", "sijunjung-bot-worker@.service"])
def test_systemd_units_are_hardened(name: str, tmp_path: Path) -> None:
    path = PROJECT_ROOT / "deploy" / name
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(path)
    service = parser["Service"]
    assert [d for d in HARDENING if d not in service] == []
    assert service["ProtectSystem"] == "strict" and service["CapabilityBoundingSet"] == ""
    assert service["ReadWritePaths"] == "/opt/sijunjung-bot/var" and service["MemoryDenyWriteExecute"] == "true"
    text_ = path.read_text()
    assert "SystemCallFilter=@system-service" in text_
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the directives were checked, not the rating")
    copy = tmp_path / name.replace("@.", "@1.")
    copy.write_text(text_)
    rated = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(copy)], capture_output=True,
                           text=True, timeout=60, check=False, cwd=tmp_path)
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", rated.stdout + rated.stderr)
    if found is None:
        pytest.skip(f"systemd-analyze security --offline is not supported here: {rated.stderr[-300:]}")
    assert float(found.group(1)) <= 3.0, rated.stdout


def test_the_wrapper_runs_commands_as_the_service_with_its_environment_file() -> None:
    wrapper = PROJECT_ROOT / "deploy" / "sijunjung-bot"
    assert os.access(wrapper, os.X_OK)
    assert subprocess.run(["sh", "-n", str(wrapper)], check=False).returncode == 0
    text_ = wrapper.read_text()
    assert "--env-file" in text_ and "runuser -u" in text_ and "/etc/sijunjung-bot/env" in text_


def test_compose_takes_its_settings_from_outside_the_checkout_and_rotates_logs() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    for name in ("web", "worker"):
        service = compose["services"][name]
        assert service["env_file"] == "${BOT_ENV_FILE:-.env}"
        assert "${BOT_CONFIG_FILE:-./config.yaml}:/app/config.yaml:ro" in service["volumes"]
        assert service["environment"]["BOT_ENV_FILE"] == ""  # a host path means nothing inside
    for service in compose["services"].values():
        assert service["logging"]["options"]["max-size"] and service["logging"]["options"]["max-file"]
    assert "/readyz" in " ".join(compose["services"]["web"]["healthcheck"]["test"])
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "keys export" in dockerfile


def test_the_deploy_guide_covers_the_first_day() -> None:
    guide = (PROJECT_ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for needed in ("--env-file", "officials invite", "keys export", "--keep", "/metrics", "METRICS_TOKEN",
                   "scrape_configs", "systemd-analyze security", "max-size", "BOT_CONFIG_FILE", "--force"):
        assert needed in guide, needed
