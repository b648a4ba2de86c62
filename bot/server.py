"""The web server (`python -m bot run` with a channel configured): one aiohttp app hosting the
Telegram and WhatsApp webhooks, /healthz and /readyz, plus the channels' background tasks.

- /healthz: the database, each channel's last successful contact with its platform (a poll, a
  webhook the platform delivered, a message it accepted) and the outbox backlog; 200 when the
  database answers and no channel's last attempt failed, else 503 (with the same report).
- /readyz: 200 only when the database is reachable and fully migrated (load balancers and the
  container health check); 503 otherwise. The body also lists, for the operator, the WhatsApp
  templates that cannot be sent (not APPROVED by Meta, with Meta's reason, or unknown to Meta).

The channels are listed in bot/commands.py and passed in; each setup function adds its routes to the app and
returns a Channel describing its background work (polling, recovery) and its sender.

SIGTERM and SIGINT stop it cleanly (handlers/shutdown.py): the listening socket closes, webhook
requests in flight get their answer, polling and recovery loops stop, and the channels' turns
and the embedded outbox worker get what is left of `shutdown.grace_seconds` to finish; then the
channels close and `serve` returns.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping

from typing import Any

from aiohttp import web

from bot import heap
from bot.channels import Channel, ChannelSetup, ChannelSpec, configured_channels  # noqa: F401  (re-exported for tests)
from handlers.services import Services
from handlers.shutdown import Deadline, finish_within, shutdown_rules

from bot.version import version

log = logging.getLogger(__name__)


SVC_KEY = web.AppKey("svc", Services)
CHANNELS_KEY = web.AppKey("channels", dict)

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
    body = {"status": status, "version": version(), "database": "ok" if migrated else "not migrated",
            "channels": channels, "failing": failing, "outbox": backlog}
    return web.json_response(body, status=200 if status == "ok" else 503)


async def readyz(request: web.Request) -> web.Response:
    """Ready: the database is reachable and migrated. What the channels report (the WhatsApp
    templates Meta has not approved, or not seen) is added to the body for the operator, but does
    not make the bot unready: it still answers everyone who writes."""
    reachable, migrated = await database_state(request.app[SVC_KEY])
    if not (reachable and migrated):
        return web.json_response({"status": "not ready", "database": "not migrated" if reachable else "unavailable"},
                                 status=503)
    body: dict[str, Any] = {"status": "ready"}
    for name, channel in sorted(request.app[CHANNELS_KEY].items()):
        if channel.readiness is None:
            continue
        try:
            body.update(await channel.readiness())
        except Exception as problem:  # noqa: BLE001 - a report is information, never a failure
            log.warning("/readyz: the %s channel's report failed (%s)", name, type(problem).__name__)
    return web.json_response(body)


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


async def build_app(svc: Services, environ: Mapping[str, str],
                    channels: Mapping[str, ChannelSpec]) -> tuple[web.Application, list[Channel]]:
    """The web app with /healthz, /readyz and each of `channels` set up on it."""
    app = web.Application(client_max_size=1024 * 1024, middlewares=[record_webhook_contact])
    app[SVC_KEY] = svc
    app[CHANNELS_KEY] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    # /dasbor: the regency's dashboard for officials, in a browser (docs/dashboard.md).
    from bot.dashboard import setup as setup_dashboard

    setup_dashboard(app, svc)
    from bot.metrics import metrics_view  # Prometheus text format; METRICS_TOKEN (bot/metrics.py)

    app.router.add_get("/metrics", metrics_view(svc, environ))
    opened = []
    for name, spec in channels.items():
        channel = await spec.setup(app, svc, environ)
        app[CHANNELS_KEY][name] = channel
        if channel.sender is not None:
            record_sends(svc, name, channel.sender)
            svc.senders[name] = channel.sender
        opened.append(channel)
    return app, opened


def make_runner(app: web.Application, svc: Services, grace: float) -> web.AppRunner:
    """shutdown_timeout: how long requests in flight may take once the server stops accepting;
    keepalive_timeout: an idle connection is closed after limits.slow_client_seconds (aiohttp's
    default keeps it an hour)."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=grace,
                         keepalive_timeout=svc.config.limits.slow_client_seconds)


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM and SIGINT set `stop` (instead of killing the process or raising
    KeyboardInterrupt somewhere in the middle of a turn)."""
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, _signalled, stop, signum)


def _signalled(stop: asyncio.Event, signum: int) -> None:
    if not stop.is_set():
        log.info("%s received: stopping", signal.Signals(signum).name)
    stop.set()


async def serve(svc: Services, environ: Mapping[str, str], channels: Mapping[str, ChannelSpec], port: int,
                host: str = "127.0.0.1",
                stop: asyncio.Event | None = None) -> None:
    """Serve the webhooks, run the channels' tasks and the embedded outbox worker until `stop`
    is set (SIGTERM, SIGINT) or a channel's task fails; then shut down within the grace."""
    from bot.worker import alert_admins_on_spam_flag, start_embedded

    if stop is None:
        stop = asyncio.Event()
        stop_on_signals(stop)
    grace = shutdown_rules(svc).grace_seconds
    names = list(channels)
    app, opened = await build_app(svc, environ, channels)
    runner = make_runner(app, svc, grace)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as problem:
        await runner.cleanup()
        from bot.config import ConfigError

        raise ConfigError(f"Cannot listen on {host}:{port} (HOST, PORT): {problem.strerror or problem}") from None
    log.info("serving %s on %s:%d", ", ".join(names), host, port)
    # Start-up is done: what it built lives as long as the process (bot/heap.py).
    heap.settle()
    tasks = [asyncio.create_task(job()) for channel in opened for job in channel.tasks]
    # Reminders, campaigns and notifications: sent by the worker inside this process unless
    # delivery.embedded_worker is off (separate `python -m bot worker` processes).
    alert_admins_on_spam_flag(svc)
    worker_stop = asyncio.Event()
    worker = start_embedded(svc, worker_stop)
    failure: BaseException | None = None
    try:
        failure = await _until_stopped(stop, [*tasks, *([worker] if worker else [])])
    finally:
        await _shut_down(runner, opened, tasks, worker, worker_stop, grace)
    if failure is not None:
        raise failure


async def _until_stopped(stop: asyncio.Event, tasks: list[asyncio.Task[Any]]) -> BaseException | None:
    """Wait for `stop`; a task that fails meanwhile stops the server too (its error is returned)."""
    stopping = asyncio.create_task(stop.wait())
    pending: set[asyncio.Task[Any]] = {stopping, *tasks}
    try:
        while not stop.is_set():
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopping and not task.cancelled() and task.exception() is not None:
                    log.error("%s failed: stopping the server", task.get_coro().__qualname__)
                    stop.set()
                    return task.exception()
        return None
    finally:
        stopping.cancel()


async def _shut_down(runner: web.AppRunner, channels: list[Channel], tasks: list[asyncio.Task[Any]],
                     worker: asyncio.Task[int] | None, worker_stop: asyncio.Event, grace: float) -> None:
    deadline = Deadline(grace)
    log.info("shutting down: work in flight gets %.0f s", grace)
    # 1. No new work: the listening socket closes; requests in flight are answered.
    await runner.cleanup()
    # 2. Polling and recovery loops end (a recovery round in flight belongs to its channel now).
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    # 3. Turns under way and the worker's batch finish, for what is left of the grace.
    worker_stop.set()
    finishing = [channel.stop(deadline.left()) for channel in channels if channel.stop]
    if worker is not None:
        finishing.append(finish_within(worker, deadline.left()))
    await asyncio.gather(*finishing, return_exceptions=True)
    for channel in channels:
        if channel.close:
            await channel.close()
    log.info("stopped")
