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

    export = sub.add_parser("export", help="export registrations")
    common(export)
    export.add_argument("--format", choices=["csv"], default="csv")
    export.add_argument("--out", help="file to write (default: stdout)")
    export.add_argument("--nagari", help="only this nagari (Kemendagri code)")

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
    from bot.server import serve, stop_on_signals

    # From the start: a SIGTERM during migrations waits for them instead of killing midway.
    stop = asyncio.Event()
    stop_on_signals(stop)
    env = Environment.from_env()
    svc = await build_services(args.config, args.db, env=env)
    try:
        await serve(svc, os.environ, names, env.port, stop=stop)
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
        svc = await build_services(args.config, url, clock=clock, env=env)
        try:
            await simulate(svc, clock)
        finally:
            await svc.db.dispose()


async def run_export(args: argparse.Namespace) -> None:
    from handlers.export import export_csv

    svc = await build_services(args.config, args.db)
    try:
        if args.out:
            with open(args.out, "w", encoding="utf-8", newline="") as handle:
                count = await export_csv(svc, handle, args.nagari)
            print(f"{count} registrations written to {args.out}", file=sys.stderr)
        else:
            await export_csv(svc, sys.stdout, args.nagari)
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
            asyncio.run(run_export(args))
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
