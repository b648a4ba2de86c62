"""The command line: `python -m bot <command>` (also installed as `sijunjung-bot`).

Every command reads the service's environment when told where it is (`--env-file PATH`, or
BOT_ENV_FILE; else .env in the project root), and every command that reads or writes data says
first, on stderr, which database and which key it acts with (bot/app.py `announce`): the same
settings as the service, and no doubt about which copy of the data a command touched.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.args import database_arg
from bot.commands import CHANNELS, SUBCOMMANDS
from bot.channels import ChannelSpec, configured_channels
from bot.app import (
    ANNOUNCE,
    announce,
    build_services,
    database_error,
    database_url,
    master_key,
    open_database,
    startup_summary,
)
from bot.config import ENV_FILE_VARIABLE, PROJECT_ROOT, ConfigError, Environment, load_dotenv_file
from bot.logging_setup import setup_logging
from bot.version import version
from handlers.clock import FixedClock, SystemClock

log = logging.getLogger("bot")
ENV_FILE_OPTION = "--env-file"
# Commands that say nothing before acting: `run` and `worker` log their start-up line instead
# (after the channels' credentials are checked), `templates` talks to Meta first, `simulate`
# uses a throw-away database unless --db is given, `keys new` touches no database.
SILENT = {"run", "worker", "templates"}



def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot", description="Satu Nagari 100 Pekerja Rentan: registration bot",
        epilog="Settings come from config.yaml and the environment (.env is read): see .env.example.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    parser.add_argument(ENV_FILE_OPTION, metavar="PATH",
                        help=f"read the environment from this file, the service's (e.g. /etc/sijunjung-bot/env; "
                             f"default: {ENV_FILE_VARIABLE}, else .env); accepted anywhere on the line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", type=database_arg,
                       help="database URL or SQLite file (default: DATABASE_URL or the SQLite file in var/)")
        p.add_argument("--config", help="path to config.yaml (default: BOT_CONFIG or ./config.yaml)")

    run = sub.add_parser("run", help="run the bot: channels with tokens configured, else a terminal chat",
                         description="Serve the configured channels (webhooks on HOST:PORT, Telegram polling) "
                                     "and the embedded outbox worker; with no channel token, a terminal chat.")
    common(run)
    run.add_argument("--as", dest="user", default="tg:1", help="terminal chat: channel user id (default tg:1)")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal as one person")
    common(chat)
    chat.add_argument("--as", dest="user", default="tg:1", help="channel user id, e.g. tg:1001 or wa:6281234567890")

    sim = sub.add_parser("simulate", help="JSON-lines simulator (stdin -> stdout)")
    common(sim)
    sim.add_argument("--now", help="fix the clock at this ISO 8601 time")

    export = sub.add_parser("export", help="export registrations (the BPJS list: approved by default)")
    common(export)
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv", help="file format (default csv)")
    export.add_argument("--out", help="file to write, '-' for stdout (default: stdout for csv, "
                                      "a file named after the selection for xlsx)")
    export.add_argument("--status", default="approved",
                        help="approved (default: approved and enrolled), all, or statuses separated by "
                             "commas: pending, correction, waiting, approved, enrolled, rejected, withdrawn")
    export.add_argument("--nagari", help="only this nagari (Kemendagri code or name)")
    export.add_argument("--since", help="decided (undecided: submitted) on or after this day, "
                                        "YYYY-MM-DD or DD-MM-YYYY")

    db = sub.add_parser("db", help="database maintenance: migrations, backup, restore")
    db_sub = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")

    def db_common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", type=database_arg, help="database URL or SQLite file (default: DATABASE_URL "
                                                       "or the SQLite file in var/)")

    db_common(db_sub.add_parser("upgrade", help="apply migrations (also done on every start; a SQLite "
                                                "database is backed up first when its schema changes)"))
    db_common(db_sub.add_parser("current", help="print the migration revision the database is at"))
    db_common(db_sub.add_parser("history", help="list every migration, marking those applied"))
    backup = db_sub.add_parser("backup", help="write a consistent backup (SQLite: online backup API; "
                                              "PostgreSQL: pg_dump custom format)")
    db_common(backup)
    backup.add_argument("--out", help="backup file (default: var/backups/bot-<UTC time>.sqlite3 or .dump)")
    backup.add_argument("--keep", type=int, metavar="N",
                        help="then delete all but the newest N backups named bot-* in the backup's folder")
    restore = db_sub.add_parser("restore", help="replace the database's contents by a backup "
                                                "(stop the bot first)")
    db_common(restore)
    restore.add_argument("backup_file", metavar="FILE", help="a file written by `db backup`")
    restore.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    restore.add_argument("--force", action="store_true",
                         help="restore even while another process of the bot uses the database (refused otherwise)")

    keys = sub.add_parser("keys", help="the NIK encryption key: fingerprint, a new key, rotation")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    fingerprint = keys_sub.add_parser("fingerprint", help="print the fingerprint of the configured key and "
                                                          "of the database's key")
    db_common(fingerprint)
    new = keys_sub.add_parser("new", help="write a new random key to a file (0600)")
    new.add_argument("--out", required=True, help="file to create (refused if it exists)")
    rotate = keys_sub.add_parser(
        "rotate", help="re-encrypt every NIK under a new key (resumable: run it again after a stop)",
        description="Stop every bot and worker process first. The current key comes from BOT_SECRET_KEY "
                    "(or BOT_SECRET_KEY_FILE); the new one from --new-key-file. Afterwards start the bot "
                    "with the new key.")
    db_common(rotate)
    rotate.add_argument("--new-key-file", required=True, help="file holding the new key (see `keys new`)")
    rotate.add_argument("--batch-size", type=int, default=200, help="rows per transaction (default 200)")
    rotate.add_argument("--force", action="store_true",
                        help="rotate even while another process of the bot uses the database (refused otherwise)")
    export_key = keys_sub.add_parser(
        "export", help="write the configured key to stdout or a new file (0600), to keep a copy outside the machine",
        description="The key the processes use (BOT_SECRET_KEY, or the key file: in a container the generated "
                    "/app/keys/secret.key), with its fingerprint and the database's on stderr.")
    db_common(export_key)
    export_key.add_argument("--out", help="file to create (refused if it exists; default: stdout)")

    for name, subcommand in SUBCOMMANDS.items():
        extra = sub.add_parser(name, help=subcommand.help)
        common(extra)
        subcommand.configure(extra)
    return parser


async def run_chat(args: argparse.Namespace) -> None:
    from bot.terminal import chat

    svc = await build_services(args.config, args.db)
    try:
        await chat(svc, args.user)
    finally:
        await svc.db.dispose()


def run_bot(args: argparse.Namespace) -> int:
    """`make run`: serve the channels whose tokens are set; with none, open a terminal chat."""
    channels = configured_channels(os.environ, CHANNELS)
    if not channels and not sys.stdin.isatty():
        # A service (systemd, a container) whose environment file was not read, or lacks the
        # tokens: a terminal chat on /dev/null would end at once and restart for ever.
        raise ConfigError("No channel configured (TELEGRAM_BOT_TOKEN, or WHATSAPP_ACCESS_TOKEN and "
                          "WHATSAPP_PHONE_NUMBER_ID) and stdin is not a terminal: nothing to serve "
                          f"(is the environment file read? {ENV_FILE_OPTION} or {ENV_FILE_VARIABLE})")
    if not channels:
        print("No channel token configured (TELEGRAM_BOT_TOKEN, WHATSAPP_*): starting a terminal chat.",
              file=sys.stderr)
        if "LOG_LEVEL" not in os.environ:
            # Log lines between the chat's messages would bury the conversation.
            logging.getLogger().setLevel(logging.WARNING)
        announcing = ANNOUNCE.set(sys.stderr)  # a chat on the data, as `chat` is
        try:
            asyncio.run(run_chat(args))
        finally:
            ANNOUNCE.reset(announcing)
        return 0
    asyncio.run(serve_channels(args, channels))
    return 0


async def serve_channels(args: argparse.Namespace, channels: dict[str, ChannelSpec]) -> None:
    from bot.server import serve, stop_on_signals

    # From the start: a SIGTERM during migrations waits for them instead of killing midway.
    stop = asyncio.Event()
    stop_on_signals(stop)
    env = Environment.from_env()
    svc = await build_services(args.config, args.db, env=env)
    log.info("%s", startup_summary(svc, list(channels)))
    try:
        # Held while serving: `keys rotate` and `db restore` refuse meanwhile (storage/db.py).
        async with svc.db.in_service():
            await serve(svc, os.environ, channels, env.port, env.host, stop=stop)
    finally:
        close_locks = getattr(svc.locks, "close", None)
        if close_locks is not None:
            await close_locks()
        await svc.db.dispose()


async def run_simulate(args: argparse.Namespace) -> None:
    from bot.simulate import parse_time, simulate

    start = parse_time(args.now) if args.now else datetime.now(timezone.utc)
    clock = FixedClock(start)
    env = Environment.from_env()
    with tempfile.TemporaryDirectory(prefix="sim-") as tmp:
        if not args.db:
            # A fresh throw-away database with a throw-away key: nothing of a simulation persists.
            url = f"sqlite:///{Path(tmp) / 'simulate.sqlite3'}"
            env = env.model_copy(update={"secret_key": env.secret_key or secrets.token_urlsafe(48)})
        else:
            url = args.db
        token = ANNOUNCE.set(ANNOUNCE.get() if args.db else None)
        try:
            svc = await build_services(args.config, url, clock=clock, env=env)
        finally:
            ANNOUNCE.reset(token)
        try:
            await simulate(svc, clock)
        finally:
            await svc.db.dispose()


class _Utf8Writer:
    """A text sink writing UTF-8 straight to a binary stream (stdout's, whatever the locale)."""

    def __init__(self, binary: Any) -> None:
        self.binary = binary

    def write(self, text: str) -> int:
        return self.binary.write(text.encode("utf-8"))


async def run_export(args: argparse.Namespace) -> int:
    """Write the export; a closed pipe (`export | head`) ends it quietly."""
    from handlers.export import ExportRequest, default_name, export_csv, export_xlsx, selection_of
    from handlers.exports_bpjs import SelectionError

    svc = await build_services(args.config, args.db)
    try:
        try:
            selection = await selection_of(svc, ExportRequest(args.format, args.status, args.nagari, args.since))
        except SelectionError as problem:
            print(svc.catalog.text("en", problem.key), file=sys.stderr)
            return 2
        # A file with full NIKs goes where the chat's exports go (officials.export_dir, var/exports/,
        # private to the bot's user), not wherever the command happened to be started.
        out = args.out or ("-" if args.format == "csv" else str(export_folder(svc) / default_name(svc, selection,
                                                                                              args.format)))
        if out == "-":
            binary = sys.stdout.buffer
            try:
                if args.format == "csv":
                    await export_csv(svc, _Utf8Writer(binary), selection)
                else:
                    await export_xlsx(svc, binary, selection)
                binary.flush()
            except BrokenPipeError:
                # The reader went away (`export | head`): stop writing, and point stdout at
                # /dev/null so that Python's own flush at exit does not fail a second time.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        if args.format == "csv":
            with open(out, "w", encoding="utf-8", newline="") as handle:
                count = await export_csv(svc, handle, selection)
        else:
            count = await export_xlsx(svc, Path(out), selection)
        print(f"{count} registrations ({selection.status_slug}) written to {out}", file=sys.stderr)
        return 0
    finally:
        await svc.db.dispose()


def export_folder(svc: Any) -> Path:
    from storage.crypto import private_dir

    folder = svc.config.resolve(svc.config.officials.export_dir)
    private_dir(folder)
    return Path(folder)


async def announce_database(database: Any, url: str) -> None:
    """`announce` for the commands that open the database without the services: the key is the
    one the database records (the key its backups need)."""
    from storage.keyring import stored_fingerprint

    if ANNOUNCE.get() is None:
        return
    async with database.session() as session:
        row = await stored_fingerprint(session)
    announce(url, f"{row.fingerprint} (recorded in the database)" if row else None)


async def run_db(args: argparse.Namespace, env: Environment) -> int:
    """`db upgrade|current|history|backup|restore`."""
    from storage.db import BackupFailed, InUse, pg_tool, prune_backups, safe_url

    url = database_url(args.db, env)
    database = open_database(url)
    try:
        if args.db_command in ("backup", "restore") and not database.is_sqlite:
            # Said before anything else: a missing client is the one line of the failure.
            pg_tool("pg_dump" if args.db_command == "backup" else "pg_restore")
        if args.db_command == "backup" and args.keep is not None and args.keep < 1:
            raise BackupFailed("--keep must be at least 1")
        await announce_database(database, url)
        if args.db_command == "upgrade":
            async with database.startup_lock():
                backup = await database.upgrade()
            if backup:
                print(f"backup before migrating: {backup}", file=sys.stderr)
            print(f"database is up to date ({safe_url(url)})", file=sys.stderr)
        elif args.db_command == "current":
            current = await database.current_revisions()
            pending = await database.pending_migrations()
            print(", ".join(current) or "(empty database: no migration applied)")
            print(f"{len(pending)} migration(s) pending: {', '.join(pending)}" if pending else "up to date",
                  file=sys.stderr)
        elif args.db_command == "history":
            from alembic.script import ScriptDirectory

            from storage.db import alembic_config

            pending = set(await database.pending_migrations())
            script = ScriptDirectory.from_config(alembic_config())
            for revision in reversed(list(script.walk_revisions("base", "heads"))):
                mark = "pending" if revision.revision in pending else "applied"
                print(f"{revision.revision:<28} {mark:<8} {(revision.doc or '').splitlines()[0]}")
        elif args.db_command == "backup":
            stamp = SystemClock().now().strftime("%Y%m%dT%H%M%SZ")
            default = PROJECT_ROOT / "var" / "backups" / f"bot-{stamp}.{'sqlite3' if database.is_sqlite else 'dump'}"
            out = Path(args.out).expanduser().resolve() if args.out else default
            if out.exists():
                raise BackupFailed(f"{out} exists: choose another --out")
            written = await database.backup(out)
            print(f"backup written to {written}", file=sys.stderr)
            if args.keep is not None:
                removed = prune_backups(written, args.keep)
                print(f"kept the newest {args.keep} backups in {written.parent}; deleted {len(removed)}"
                      + (f": {', '.join(p.name for p in removed)}" if removed else ""), file=sys.stderr)
        elif args.db_command == "restore":
            source = Path(args.backup_file).expanduser().resolve()
            # Nobody else on the database from the question to the end (unless --force).
            async with database.exclusive(force=args.force):
                if not args.yes:
                    if not sys.stdin.isatty():
                        raise BackupFailed("restoring replaces the database's contents: add --yes to confirm")
                    answer = input(f"Replace every row of {safe_url(url)} by {source}? Type yes: ")
                    if answer.strip().lower() != "yes":
                        print("nothing restored", file=sys.stderr)
                        return 1
                await database.restore(source)
            print(f"restored {safe_url(url)} from {source}; start the bot with the key of that backup",
                  file=sys.stderr)
    except (BackupFailed, InUse) as problem:
        print(f"db {args.db_command}: {problem}", file=sys.stderr)
        return 1
    except ConfigError:
        raise
    except Exception as problem:  # noqa: BLE001 - one line naming the setting, never a traceback
        raise database_error(url, problem) from None
    finally:
        await database.dispose()
    return 0


async def run_keys(args: argparse.Namespace, env: Environment) -> int:
    """`keys fingerprint|new|rotate|export`."""
    from storage.crypto import NikCipher, load_master_key, new_master_key, private_dir, replace_key_file
    from storage.db import InUse
    from storage.keyring import KeyMismatch, RotationRefused, rotate, stored_fingerprint

    if args.keys_command == "new":
        out = Path(args.out).expanduser()
        private_dir(out.parent)
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            print(f"keys new: {out} exists: choose another --out", file=sys.stderr)
            return 1
        with os.fdopen(fd, "wb") as handle:
            handle.write(new_master_key())
        print(f"new key written to {out}", file=sys.stderr)
        return 0
    key = master_key(env, create=False)
    current = NikCipher(key)
    url = database_url(args.db, env)
    database = open_database(url)
    try:
        async with database.session() as session:
            row = await stored_fingerprint(session)
        announce(url, current.fingerprint)
        if args.keys_command == "fingerprint":
            print(f"configured key: {current.fingerprint}")
            print(f"database key:   {row.fingerprint if row else '(not recorded yet)'}"
                  + (f" (rotation to {row.rotating_to} unfinished)" if row and row.rotating_to else ""))
            return 0
        if args.keys_command == "export":
            return export_key(args, key, current.fingerprint, row.fingerprint if row else None)
        new_file = Path(args.new_key_file).expanduser()
        if not new_file.is_file():
            raise ConfigError(f"keys rotate --new-key-file: no such file {new_file} (create one with `keys new`)")
        try:
            new_key = load_master_key("", new_file)
            new = NikCipher(new_key)
        except ValueError as problem:
            raise ConfigError(f"keys rotate --new-key-file {new_file}: {problem}") from None
        async with database.exclusive(force=args.force):
            async with database.startup_lock():
                report = await rotate(database.sessionmaker, current, new, SystemClock().now(), args.batch_size)
            if report.already_done:
                print(f"the database is already encrypted with key {new.fingerprint}", file=sys.stderr)
            else:
                done = ", ".join(f"{table} {count}" for table, count in report.rewritten.items())
                print(f"re-encrypted under key {new.fingerprint} (rows: {done})", file=sys.stderr)
            if env.secret_key:
                print(f"now put the new key in the environment of every process (BOT_SECRET_KEY=$(cat {new_file}) "
                      "in the service's environment file), start them, and keep a copy of the new key outside "
                      "this machine", file=sys.stderr)
            else:
                kept = replace_key_file(env.secret_key_file, new_key)
                if kept is not None:
                    print(f"the key file {env.secret_key_file} now holds the new key; the old one is kept in {kept} "
                          "(0600: backups made before need it). Keep a copy of the new key outside this machine, "
                          f"then delete {new_file}", file=sys.stderr)
        return 0
    except (RotationRefused, KeyMismatch, InUse) as problem:
        print(f"keys {args.keys_command}: {problem}", file=sys.stderr)
        return 1
    except ConfigError:
        raise
    except Exception as problem:  # noqa: BLE001 - one line naming the setting, never a traceback
        raise database_error(url, problem) from None
    finally:
        await database.dispose()


def export_key(args: argparse.Namespace, key: bytes, fingerprint: str, recorded: str | None) -> int:
    """`keys export`: the key itself, for safekeeping outside the machine (a container's generated
    key lives in a volume). Stdout, or a new 0600 file; the fingerprints on stderr, so whoever
    stores it can tell later which database it opens."""
    if recorded is not None and recorded != fingerprint:
        print(f"keys export: warning: this key ({fingerprint}) is not the database's ({recorded})", file=sys.stderr)
    if args.out:
        out = Path(args.out).expanduser()
        try:
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            print(f"keys export: {out} exists: choose another --out", file=sys.stderr)
            return 1
        with os.fdopen(fd, "wb") as handle:
            handle.write(key + b"\n")
        print(f"key {fingerprint} written to {out}: copy it off this machine, apart from the backups, "
              "then delete it here", file=sys.stderr)
        return 0
    sys.stdout.write(key.decode() + "\n")
    sys.stdout.flush()
    print(f"key {fingerprint}: keep it outside this machine, apart from the database backups", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    # Everything the program creates (database, key, backups, exports) is private to its user.
    previous_umask = os.umask(0o077)
    try:
        return _main(argv)
    finally:
        os.umask(previous_umask)


def split_env_file(argv: list[str]) -> tuple[str | None, list[str]]:
    """`--env-file PATH` (or `--env-file=PATH`) taken out of the command line, wherever it is
    (before `--`): the environment is read before the command line is parsed, since the
    defaults of the options come from it."""
    rest: list[str] = []
    found: str | None = None
    words = iter(argv)
    for word in words:
        if word == "--":
            rest += [word, *words]
            break
        if word == ENV_FILE_OPTION:
            found = next(words, None)
            if found is None:
                raise ConfigError(f"{ENV_FILE_OPTION} needs a PATH (the service's environment file)")
        elif word.startswith(ENV_FILE_OPTION + "="):
            found = word.split("=", 1)[1]
        else:
            rest.append(word)
    return found, rest


def _main(argv: list[str] | None) -> int:
    try:
        env_file, argv = split_env_file(list(sys.argv[1:] if argv is None else argv))
        load_dotenv_file(env_file)
    except ConfigError as problem:
        print(problem.code if isinstance(problem.code, str) else problem, file=sys.stderr)
        return 2
    args = build_parser().parse_args(argv)
    try:
        env = Environment.from_env()
    except ConfigError as problem:
        print(problem.code if isinstance(problem.code, str) else problem, file=sys.stderr)
        return 2
    # Say which database and key a command acts with, once both are checked (bot/app.py).
    announcing = ANNOUNCE.set(None if args.command in SILENT else sys.stderr)
    try:
        return _dispatch(args, env)
    finally:
        ANNOUNCE.reset(announcing)


def _dispatch(args: argparse.Namespace, env: Environment) -> int:
    # The simulator's stdout is its protocol: logs go to stderr, quietly.
    quiet = args.command in ("simulate", "chat") and "LOG_LEVEL" not in os.environ
    setup_logging("WARNING" if quiet else env.log_level, fmt=env.log_format)
    try:
        if args.command == "run":
            return run_bot(args)
        if args.command == "chat":
            asyncio.run(run_chat(args))
        elif args.command == "simulate":
            asyncio.run(run_simulate(args))
        elif args.command == "export":
            return asyncio.run(run_export(args))
        elif args.command == "db":
            return asyncio.run(run_db(args, env))
        elif args.command == "keys":
            return asyncio.run(run_keys(args, env))
        else:
            return SUBCOMMANDS[args.command].run(args) or 0
    except ConfigError as problem:
        print(problem.code if isinstance(problem.code, str) else problem, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


__all__ = ["main", "database_arg"]
