"""The command line: `python -m bot <command>` (also installed as `sijunjung-bot`)."""

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

from bot.app import build_services, database_url
from bot.config import ConfigError, Environment, load_dotenv_file
from bot.logging_setup import setup_logging
from handlers.clock import FixedClock

# Extra subcommands registered by channel/feature modules: name -> (configure(parser), run(args)).
EXTRA_COMMANDS: dict[str, tuple] = {}


def database_arg(value: str) -> str:
    """--db takes a database URL or, for the embedded SQLite database, a plain file path."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Satu Nagari 100 Pekerja Rentan: registration bot")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", type=database_arg,
                       help="database URL or SQLite file (default: DATABASE_URL or the SQLite file in var/)")
        p.add_argument("--config", help="path to config.yaml (default: BOT_CONFIG or ./config.yaml)")

    run = sub.add_parser("run", help="run the bot: channels with tokens configured, else a terminal chat")
    common(run)
    run.add_argument("--as", dest="user", default="tg:1", help="terminal chat: channel user id")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal as one person")
    common(chat)
    chat.add_argument("--as", dest="user", default="tg:1", help="channel user id, e.g. tg:1001 or wa:6281234567890")

    sim = sub.add_parser("simulate", help="JSON-lines simulator (stdin -> stdout)")
    common(sim)
    sim.add_argument("--now", help="fix the clock at this ISO 8601 time")

    export = sub.add_parser("export", help="export registrations (the BPJS list: approved by default)")
    common(export)
    export.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    export.add_argument("--out", help="file to write, '-' for stdout (default: stdout for csv, "
                                      "a file named after the selection for xlsx)")
    export.add_argument("--status", default="approved",
                        help="approved (default: approved and enrolled), all, or statuses separated by "
                             "commas: pending, correction, waiting, approved, enrolled, rejected, withdrawn")
    export.add_argument("--nagari", help="only this nagari (Kemendagri code or name)")
    export.add_argument("--since", help="decided (undecided: submitted) on or after this day, "
                                        "YYYY-MM-DD or DD-MM-YYYY")

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("--db", type=database_arg, help="database URL or SQLite file")

    for name, (configure, _run) in EXTRA_COMMANDS.items():
        extra = sub.add_parser(name)
        common(extra)
        configure(extra)
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
    from bot.server import configured_channels

    names = configured_channels(os.environ)
    if not names:
        print("No channel token configured (TELEGRAM_BOT_TOKEN, WHATSAPP_*): starting a terminal chat.",
              file=sys.stderr)
        if "LOG_LEVEL" not in os.environ:
            # Log lines between the chat's messages would bury the conversation.
            logging.getLogger().setLevel(logging.WARNING)
        asyncio.run(run_chat(args))
        return 0
    asyncio.run(serve_channels(args, names))
    return 0


async def serve_channels(args: argparse.Namespace, names: list[str]) -> None:
    from bot.server import serve

    env = Environment.from_env()
    svc = await build_services(args.config, args.db, env=env)
    try:
        await serve(svc, os.environ, names, env.port)
    finally:
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
        svc = await build_services(args.config, url, clock=clock, env=env)
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
        out = args.out or ("-" if args.format == "csv" else default_name(svc, selection, args.format))
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


def main(argv: list[str] | None = None) -> int:
    load_dotenv_file()
    import bot.extensions  # noqa: F401  (registers the channel and feature subcommands)

    args = build_parser().parse_args(argv)
    env = Environment.from_env()
    # The simulator's stdout is its protocol: logs go to stderr, quietly.
    setup_logging("WARNING" if args.command in ("simulate", "chat") and "LOG_LEVEL" not in os.environ else env.log_level)
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
            from storage.db import upgrade_sync

            upgrade_sync(database_url(args.db, env))
            print("database is up to date", file=sys.stderr)
        else:
            _configure, run = EXTRA_COMMANDS[args.command]
            return run(args) or 0
    except ConfigError as problem:
        print(problem.code if isinstance(problem.code, str) else problem, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


__all__ = ["main", "EXTRA_COMMANDS"]
