"""`python -m bot dashboard`: the dashboard from the server's command line.

    dashboard link --as tg:123456789    a one-time login link for that official (stdout)
    dashboard serve                     the web server with the dashboard (and /healthz) only:
                                        no channel, no outbox worker

`link` is what `/dasbor` gives in the chat, for an official who cannot use the chat now, or for
the first look at a new deployment. The link starts with DASHBOARD_URL; without it, with this
machine's own address (http://127.0.0.1:PORT), said on stderr. `serve` is for trying the
dashboard without a channel, or for a dashboard process of its own beside the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bot.app import build_services
from bot.args import database_arg
from bot.config import Environment
from conversations.identity import PersonIdError, person_id
from handlers.dashboard.access import LINK_MINUTES, login_link


def configure(parser: argparse.ArgumentParser) -> None:
    # --db/--config may also follow the action (`dashboard link --as tg:1 --db ...`); SUPPRESS
    # keeps the value given before the action when they are not repeated.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=database_arg, default=argparse.SUPPRESS, help="database URL or SQLite file")
    common.add_argument("--config", default=argparse.SUPPRESS, help="path to config.yaml")
    sub = parser.add_subparsers(dest="dashboard_command", required=True)
    link = sub.add_parser("link", parents=[common], help="print a one-time login link for an official (valid "
                                                         f"{LINK_MINUTES} minutes, works once)")
    link.add_argument("--as", dest="user", required=True,
                      help="the official: tg:<Telegram user id>, or wa:<WhatsApp number>")
    sub.add_parser("serve", parents=[common], help="serve the dashboard (and /healthz, /readyz) on HOST:PORT without any channel")


def local_address(env: Environment) -> str:
    host = "127.0.0.1" if env.host in ("0.0.0.0", "::", "") else env.host
    return f"http://{host}:{env.port}"


async def make_link(args: argparse.Namespace) -> int:
    try:
        user = person_id(args.user)
    except PersonIdError as problem:
        print(f"dashboard link: not a person id: {problem}", file=sys.stderr)
        return 2
    env = Environment.from_env()
    base = env.dashboard_url
    if not base:
        base = local_address(env)
        print(f"dashboard link: DASHBOARD_URL is not set: a link for this machine only ({base})", file=sys.stderr)
    svc = await build_services(getattr(args, "config", None), getattr(args, "db", None), env=env)
    try:
        async with svc.db.session() as session:
            url = await login_link(svc, session, user, svc.clock.now(), base_url=base)
            await session.commit()
    finally:
        await svc.db.dispose()
    if url is None:
        print(f"dashboard link: {user} is not an official (python -m bot officials list)", file=sys.stderr)
        return 2
    print(url)
    print(f"valid {LINK_MINUTES} minutes, once", file=sys.stderr)
    return 0


async def serve(args: argparse.Namespace) -> int:
    from aiohttp import web

    from bot.server import build_app, make_runner, stop_on_signals
    from handlers.shutdown import shutdown_rules

    stop = asyncio.Event()
    stop_on_signals(stop)
    env = Environment.from_env()
    svc = await build_services(getattr(args, "config", None), getattr(args, "db", None), env=env)
    try:
        app, _ = await build_app(svc, os.environ, {})
        runner = make_runner(app, svc, shutdown_rules(svc).grace_seconds)
        await runner.setup()
        try:
            await web.TCPSite(runner, env.host, env.port).start()
            print(f"dashboard: {env.dashboard_url or local_address(env)}/dasbor/ (serving on {env.host}:{env.port})",
                  file=sys.stderr)
            await stop.wait()
        finally:
            await runner.cleanup()
    finally:
        await svc.db.dispose()
    return 0


def run(args: argparse.Namespace) -> int:
    if args.dashboard_command == "link":
        return asyncio.run(make_link(args))
    return asyncio.run(serve(args))
