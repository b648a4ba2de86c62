"""The web server (`python -m bot run` with a channel configured): one aiohttp app hosting the
Telegram and WhatsApp webhooks and /healthz, plus the channels' background tasks.

Channels plug in with `register_channel`; each setup function adds its routes to the app and
returns a Channel describing its background work (polling, recovery) and its sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from handlers.services import Services

log = logging.getLogger(__name__)


@dataclass
class Channel:
    name: str  # "tg" | "wa"
    sender: Any = None  # handlers.delivery.Sender
    # Long-running tasks started with the server (e.g. Telegram long polling, inbox recovery).
    tasks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Called on shutdown (close HTTP sessions).
    close: Callable[[], Awaitable[None]] | None = None


SVC_KEY = web.AppKey("svc", Services)
CHANNELS_KEY = web.AppKey("channels", dict)

# name -> (is_configured(environ), setup(app, svc, environ) -> Channel)
ChannelSetup = Callable[[web.Application, Services, Mapping[str, str]], Awaitable[Channel]]
CHANNELS: dict[str, tuple[Callable[[Mapping[str, str]], bool], ChannelSetup]] = {}


def register_channel(name: str, is_configured: Callable[[Mapping[str, str]], bool], setup: ChannelSetup) -> None:
    CHANNELS[name] = (is_configured, setup)


def configured_channels(environ: Mapping[str, str]) -> list[str]:
    return [name for name, (is_configured, _) in CHANNELS.items() if is_configured(environ)]


async def healthz(request: web.Request) -> web.Response:
    svc = request.app[SVC_KEY]
    try:
        async with svc.db.session() as session:
            from sqlalchemy import text

            await session.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - health checks report, they do not raise
        return web.json_response({"status": "database unavailable"}, status=503)
    return web.json_response({"status": "ok", "channels": sorted(request.app[CHANNELS_KEY])})


async def build_app(svc: Services, environ: Mapping[str, str], names: list[str]) -> tuple[web.Application, list[Channel]]:
    app = web.Application(client_max_size=1024 * 1024)
    app[SVC_KEY] = svc
    app[CHANNELS_KEY] = {}
    app.router.add_get("/healthz", healthz)
    channels = []
    for name in names:
        channel = await CHANNELS[name][1](app, svc, environ)
        app[CHANNELS_KEY][name] = channel
        if channel.sender is not None:
            svc.senders[name] = channel.sender
        channels.append(channel)
    return app, channels


async def serve(svc: Services, environ: Mapping[str, str], names: list[str], port: int, host: str = "0.0.0.0") -> None:
    """Serve the webhooks, run the channels' tasks and the embedded outbox worker until stopped."""
    from bot.worker import alert_admins_on_spam_flag, start_embedded

    app, channels = await build_app(svc, environ, names)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    log.info("serving %s on %s:%d", ", ".join(names), host, port)
    tasks = [asyncio.create_task(job()) for channel in channels for job in channel.tasks]
    # Reminders, campaigns and notifications: sent by the worker inside this process unless
    # delivery.embedded_worker is off (separate `python -m bot worker` processes).
    alert_admins_on_spam_flag(svc)
    worker = start_embedded(svc)
    if worker is not None:
        tasks.append(worker)
    try:
        if tasks:
            await asyncio.gather(*tasks)
        else:
            await asyncio.Event().wait()
    finally:
        for task in tasks:
            task.cancel()
        for channel in channels:
            if channel.close:
                await channel.close()
        await runner.cleanup()
