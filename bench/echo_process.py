"""A bare aiogram echo bot as a process of its own: the baseline of bench/b_cost.py.

aiogram's Dispatcher and SimpleRequestHandler on an aiohttp server, answering each message with
its text, plus a /healthz route that answers 200 (so its start is timed as ours is): what any
Telegram bot on this stack costs before it does anything of its own.

    python -m bench.echo_process --api http://127.0.0.1:PORT --port 8081 --secret S
"""

from __future__ import annotations

import argparse
import asyncio

from aiohttp import web


async def serve(args: argparse.Namespace) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    bot = Bot(args.token, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api)))
    dispatcher = Dispatcher()

    @dispatcher.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token=args.secret).register(app, path="/telegram/webhook")
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await bot.session.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.echo_process")
    parser.add_argument("--api", required=True, help="Bot API base URL (the fake server)")
    parser.add_argument("--port", type=int, required=True, help="port of the webhook and /healthz")
    parser.add_argument("--secret", required=True, help="webhook secret token")
    parser.add_argument("--token", default="987654321:AAEchoBotTokenForBenchmarks-abcdef", help="bot token")
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
