"""The web server (`python -m bot run` with a channel configured): one aiohttp app hosting the
Telegram and WhatsApp webhooks, /healthz and /readyz, plus the channels' background tasks.

- /healthz: the database, each channel's last successful contact with its platform (a poll, a
  webhook the platform delivered, a message it accepted) and the outbox backlog; 200 when the
  database answers and no channel's last attempt failed, else 503 (with the same report).
- /readyz: 200 only when the database is reachable and fully migrated (load balancers and the
  container health check); 503 otherwise.

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


# Webhook routes: a 2xx answer to the platform's POST is a contact with that platform.
WEBHOOK_CHANNELS = {"/telegram/webhook": "tg", "/whatsapp/webhook": "wa"}


async def database_state(svc: Services) -> tuple[bool, bool]:
    """(reachable, migrated)."""
    try:
        async with svc.db.session() as session:
            from sqlalchemy import text

            await session.execute(text("SELECT 1"))
        return True, await svc.db.is_migrated()
    except Exception:  # noqa: BLE001 - health checks report, they do not raise
        return False, False


async def healthz(request: web.Request) -> web.Response:
    from handlers.health import outbox_backlog

    svc = request.app[SVC_KEY]
    now = svc.clock.now()
    channels = {name: svc.contacts.get(name).report(now) for name in sorted(request.app[CHANNELS_KEY])}
    reachable, migrated = await database_state(svc)
    if not reachable:
        return web.json_response({"status": "database unavailable", "database": "unavailable",
                                  "channels": channels}, status=503)
    try:
        async with svc.db.session() as session:
            backlog = await outbox_backlog(session, now)
    except Exception:  # noqa: BLE001 - e.g. not migrated yet
        backlog = None
    failing = sorted(name for name, report in channels.items() if report["state"] == "failing")
    status = "ok" if migrated and not failing else "degraded"
    body = {"status": status, "database": "ok" if migrated else "not migrated", "channels": channels,
            "failing": failing, "outbox": backlog}
    return web.json_response(body, status=200 if status == "ok" else 503)


async def readyz(request: web.Request) -> web.Response:
    reachable, migrated = await database_state(request.app[SVC_KEY])
    if reachable and migrated:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready", "database": "not migrated" if reachable else "unavailable"},
                             status=503)


@web.middleware
async def record_webhook_contact(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                                 ) -> web.StreamResponse:
    response = await handler(request)
    channel = WEBHOOK_CHANNELS.get(request.path)
    if channel is not None and request.method == "POST" and 200 <= response.status < 300:
        svc = request.app[SVC_KEY]
        svc.contacts.ok(channel, svc.clock.now())
    return response


def record_sends(svc: Services, name: str, sender: Any) -> None:
    """Every send the platform accepts is a contact; a transient failure is a failing one."""
    original = sender.send

    async def send(*args: Any, **kwargs: Any) -> Any:
        try:
            result = await original(*args, **kwargs)
        except Exception as problem:
            svc.contacts.failed(name, svc.clock.now(), type(problem).__name__)
            raise
        if getattr(result, "ok", False):
            svc.contacts.ok(name, svc.clock.now())
        elif not getattr(result, "permanent", True):
            svc.contacts.failed(name, svc.clock.now(), str(getattr(result, "error", "") or "send failed"))
        return result

    sender.send = send


async def build_app(svc: Services, environ: Mapping[str, str], names: list[str]) -> tuple[web.Application, list[Channel]]:
    app = web.Application(client_max_size=1024 * 1024, middlewares=[record_webhook_contact])
    app[SVC_KEY] = svc
    app[CHANNELS_KEY] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    channels = []
    for name in names:
        channel = await CHANNELS[name][1](app, svc, environ)
        app[CHANNELS_KEY][name] = channel
        if channel.sender is not None:
            record_sends(svc, name, channel.sender)
            svc.senders[name] = channel.sender
        channels.append(channel)
    return app, channels


async def serve(svc: Services, environ: Mapping[str, str], names: list[str], port: int, host: str = "127.0.0.1") -> None:
    """Serve the webhooks, run the channels' tasks and the embedded outbox worker until stopped."""
    from bot.worker import alert_admins_on_spam_flag, start_embedded

    app, channels = await build_app(svc, environ, names)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as problem:
        await runner.cleanup()
        from bot.config import ConfigError

        raise ConfigError(f"Cannot listen on {host}:{port} (HOST, PORT): {problem.strerror or problem}") from None
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
