"""The outbox worker: sends campaigns, reminders and notifications, and ticks the scheduler.

Two ways to run it, same loop:
- embedded (default, SQLite): `start_embedded(svc)` inside the bot process (bot/server.serve);
- separate processes for scale (PostgreSQL): `python -m bot worker` -- several may run at
  once: claims use FOR UPDATE SKIP LOCKED, so no message is sent by two workers; set
  `delivery.worker_processes` so that together they keep to the platforms' rates, and
  `delivery.embedded_worker: false` for the bot process.

Every loop: run the scheduler (`run_due`: reminders, campaign launches and reports) every
`scheduler_seconds`, then send one batch; sleep `poll_seconds` when nothing is due. SIGTERM and
SIGINT finish the batch in flight (about a second's sending) and stop; a batch still running
after `shutdown.grace_seconds` is cancelled and its unsent messages put back in the queue at
once (handlers/shutdown.py). SIGKILL is safe too (handlers/outbox.py: leases).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot import heap
from bot.app import build_services
from bot.channels import ChannelSpec, configured_channels
from bot.config import Environment
from sqlalchemy import select

from conversations.events import Reply
from handlers.campaigns import campaigns_due
from handlers.officials import install as install_officials_jobs
from handlers.delivery import Priority
from handlers.maintenance import run_due
from handlers.outbox import NewMessage, delivery_rules, enqueue, release, send_due
from handlers.reminders import reminders_due
from handlers.roles import admins
from handlers.services import Services
from handlers.shutdown import finish_within, shutdown_rules
from storage.models import Person

log = logging.getLogger(__name__)
OUTREACH_JOBS = (reminders_due, campaigns_due)


def install_outreach(svc: Services) -> None:
    """Adds the reminder, campaign and officials' jobs (digests, old exports) to the scheduler
    (idempotent)."""
    for job in OUTREACH_JOBS:
        if job not in svc.due_jobs:
            svc.due_jobs.append(job)
    install_officials_jobs(svc)


async def enqueue_due(svc: Services, messages: list[tuple[str, Reply]]) -> None:
    """Messages that due jobs return (e.g. operators' digests) go out through the outbox, like
    every other message the system starts: with its rules, retries and crash safety."""
    if not messages:
        return
    now = svc.clock.now()
    async with svc.db.session() as session:
        langs = dict((await session.execute(
            select(Person.channel_user, Person.lang).where(Person.channel_user.in_([to for to, _ in messages])))).all())
        await enqueue(session, [NewMessage(to, reply.key, reply.text, "transactional", lang=langs.get(to, "id"),
                                           image=reply.image)
                                for to, reply in messages], now, delivery_rules(svc))
        await session.commit()


def worker_name() -> str:
    return f"{socket.gethostname()[:24]}:{os.getpid()}"


async def run_worker(svc: Services, name: str, stop: asyncio.Event, scheduler: bool = True) -> int:
    """Loop until `stop` is set (the batch in flight is finished first); returns how many
    messages were sent. Cancelled, it puts its unfinished claims back in the queue."""
    try:
        return await _run_worker(svc, name, stop, scheduler)
    except asyncio.CancelledError:
        async with svc.db.session() as session:
            released = await release(session, name)
        if released:
            log.warning("outbox worker %s stopped mid-batch: %d messages put back in the queue", name, released)
        raise


async def _run_worker(svc: Services, name: str, stop: asyncio.Event, scheduler: bool) -> int:
    install_outreach(svc)
    rules = delivery_rules(svc)
    next_tick, sent = 0.0, 0
    while not stop.is_set():
        if scheduler and time.monotonic() >= next_tick:
            await enqueue_due(svc, await run_due(svc))
            next_tick = time.monotonic() + rules.scheduler_seconds
        try:
            outcomes = await send_due(svc, name)
        except Exception:  # noqa: BLE001 - the database may be briefly away: retry, never die
            log.exception("outbox round failed; retrying")
            outcomes = []
        sent += sum(1 for o in outcomes if o.state == "sent")
        if not outcomes:
            try:
                await asyncio.wait_for(stop.wait(), rules.poll_seconds)
            except TimeoutError:
                pass
    return sent


def start_embedded(svc: Services, stop: asyncio.Event | None = None) -> asyncio.Task[int] | None:
    """The worker inside the bot process (call after the senders are installed); None when
    `delivery.embedded_worker` is off. Set `stop` to let it finish its batch and end; cancel
    the task to stop it at once."""
    if not delivery_rules(svc).embedded_worker:
        return None
    return asyncio.create_task(run_worker(svc, f"embedded:{worker_name()}", stop or asyncio.Event()))


def alert_admins_on_spam_flag(svc: Services) -> None:
    """WhatsApp 131048: the WhatsApp sender pauses bulk sends; admins are told through the outbox."""
    sender = svc.senders.get("wa")
    if sender is None or not hasattr(sender, "on_spam_flag"):
        return

    async def alert(flag: Any) -> None:
        now = svc.clock.now()
        async with svc.db.session() as session:
            text = svc.catalog.text(svc.rules.default_language, "campaign.spam_flag",
                                    until=flag.bulk_paused_until.strftime("%d-%m-%Y %H:%M UTC"))
            await enqueue(session, [NewMessage(admin, "campaign.spam_flag", text, "transactional",
                                               dedupe_key=f"spam:{admin}:{flag.bulk_paused_until.isoformat()}",
                                               priority=Priority.NOTIFY)
                                    for admin in await admins(session) if not admin.startswith("wa:")],
                          now, delivery_rules(svc))
            await session.commit()

    sender.on_spam_flag = alert


async def install_senders(svc: Services, environ: Mapping[str, str],
                          channels: Mapping[str, ChannelSpec]) -> list[Any]:
    """The configured channels' senders, built by their own setup (the web routes they add to a
    throw-away app are never served). Returns the channels, to close them at the end."""
    opened = []
    app = web.Application()
    for channel_name, spec in configured_channels(environ, channels).items():
        channel = await spec.setup(app, svc, environ)
        if channel.sender is not None:
            svc.senders[channel_name] = channel.sender
        opened.append(channel)
    alert_admins_on_spam_flag(svc)
    return opened


async def worker_main(args: argparse.Namespace, channels: Mapping[str, ChannelSpec]) -> int:
    for module in args.plugin or []:
        # A module's own CHANNELS (e.g. a test's fake platform) are used instead of the real ones.
        channels = {**channels, **importlib.import_module(module).CHANNELS}
    svc = await build_services(args.config, args.db, env=Environment.from_env())
    opened = await install_senders(svc, os.environ, channels)
    if not svc.senders:
        log.error("no channel configured (TELEGRAM_BOT_TOKEN, WHATSAPP_*): nothing to send with")
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    name = args.name or worker_name()
    from bot.app import startup_summary

    log.info("%s", startup_summary(svc, sorted(svc.senders), role="worker"))
    log.info("outbox worker %s started (channels: %s)", name, ", ".join(sorted(svc.senders)))
    heap.settle()  # start-up is done (bot/heap.py)
    try:
        # Held while working: `keys rotate` and `db restore` refuse meanwhile (storage/db.py).
        async with svc.db.in_service():
            worker = asyncio.create_task(run_worker(svc, name, stop, scheduler=not args.no_scheduler))
            stopping = asyncio.create_task(stop.wait())
            await asyncio.wait({worker, stopping}, return_when=asyncio.FIRST_COMPLETED)
            stopping.cancel()
            stop.set()
            grace = shutdown_rules(svc).grace_seconds
            if not await finish_within(worker, grace):
                log.warning("outbox worker %s: its batch was still sending after %.0f s: cancelled", name, grace)
            sent = worker.result() if not worker.cancelled() else 0
    finally:
        for channel in opened:
            if channel.close:
                await channel.close()
        await svc.db.dispose()
    log.info("outbox worker %s stopped after sending %d messages", name, sent)
    return 0


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", help="worker name recorded on claimed messages (default host:pid)")
    parser.add_argument("--no-scheduler", action="store_true", help="only send; another process runs the scheduler")
    parser.add_argument("--plugin", action="append",
                        help="a module whose CHANNELS replace the channels of the same name (tests)")


def run(args: argparse.Namespace, channels: Mapping[str, ChannelSpec]) -> int:
    return asyncio.run(worker_main(args, channels))
