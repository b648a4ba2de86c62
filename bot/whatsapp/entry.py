"""The WhatsApp channel as the server and the worker see it (bot/commands.py): whether it is
configured, and its setup. pywa, and the channel's modules built on it, are imported only when
WhatsApp is configured: a Telegram-only deployment, and every command that sends nothing, does
not load them (about 10 MB: docs/deploy.md, "Cost"). The channel itself: bot/whatsapp/channel.py.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from bot.channels import Channel
from handlers.services import Services


def is_configured(environ: Mapping[str, str]) -> bool:
    return bool(environ.get("WHATSAPP_PHONE_NUMBER_ID") or environ.get("WHATSAPP_ACCESS_TOKEN"))


async def setup(app: web.Application, svc: Services, environ: Mapping[str, str]) -> Channel:
    from bot.whatsapp.channel import setup as open_channel

    return await open_channel(app, svc, environ)
