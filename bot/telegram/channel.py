"""Registers the Telegram channel with the server (`python -m bot run`, `make run`).

Configured when TELEGRAM_BOT_TOKEN is set: webhook at /telegram/webhook when
TELEGRAM_WEBHOOK_SECRET is set, long polling otherwise (docs/telegram.md). aiogram is imported
only when the channel starts, so other commands do not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bot.channels import Channel
from handlers.services import Services


def is_configured(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("TELEGRAM_BOT_TOKEN"))


async def setup(app: web.Application, svc: Services, environ: Mapping[str, str]) -> Channel:
    from bot.telegram.intake import open_channel

    return await open_channel(app, svc, environ)

