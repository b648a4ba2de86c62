"""The WhatsApp webhook at /whatsapp/webhook, mounted in the project's aiohttp app.

GET: Meta's verification challenge (hub.mode=subscribe and our verify token: echo
hub.challenge; anything else 403).
POST: the raw body is checked against X-Hub-Signature-256 (HMAC-SHA256 with the app secret, by
pywa) before anything is read: missing -> 401, wrong -> 403, nothing processed. A signed body
that is not a JSON object with an `entry` list is refused with 400 and one log line. Each message
is then recorded in the inbox as it came (deduplicated by its wamid: Meta redelivers for up to 7
days) and committed; only then does the webhook answer 200, and the people concerned are handled
in the background, in order, once each (handlers/ingest.py). A recorded message pywa cannot read
is set aside there with one WARNING line. Statuses update whatsapp_outbound; a status for a
message this bot did not send is logged at debug level. Meta's review of our templates
(`message_template_status_update`) is recorded in whatsapp_template before the answer
(bot/whatsapp/template_admin.py); it concerns no person and never enters the inbox. Messages
for another phone_number_id are logged once per id (WHATSAPP_PHONE_NUMBER_ID is probably
wrong), messages naming no sender each time.

"Stale": a signature that does not match the body it came with -- an old signature replayed with
a new body, or a body altered after signing -- is refused (403). A validly signed message older
than `max_message_age_hours` is a replay of an old body (Meta itself stops after 7 days and the
inbox's dedupe rows may be purged by then): acknowledged (200) and ignored, so nothing is
processed and Meta has no reason to resend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, BinaryIO

import httpx
from aiohttp import web
from pywa_async import WhatsApp
from pywa_async.errors import AuthorizationError, WhatsAppError

from bot import documents
from bot.config import ConfigError
from bot.channels import Channel
from bot.whatsapp import adapter
from bot.whatsapp.adapter import attachment_of, event_of, known_phone
from bot.whatsapp.config import WhatsAppConfig
from bot.webhook_body import read_body
from bot.whatsapp.sender import WhatsAppSender
from bot.whatsapp.template_admin import BUSINESS_ACCOUNT_VARIABLE, TemplateWatch
from conversations.events import Document, Inbound
from handlers import ingest
from handlers.services import Services
from storage.crypto import who
from storage.whatsapp import Outbox

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/whatsapp/webhook"
SIGNATURE_HEADER = "X-Hub-Signature-256"
# What Meta sends: "sha256=" and the HMAC-SHA256 in hex (64 characters).
SIGNATURE_SHAPE = re.compile(r"sha256=[0-9a-fA-F]{64}")
GRAPH_HOST = "graph.facebook.com"
DEFAULT_API_BASE = f"https://{GRAPH_HOST}"
# Webhook secrets shorter than this are refused at start: they could be guessed.
SECRET_MIN = 16
# Updates left unfinished (a drain task that died) are picked up again this often.
SWEEP_SECONDS = 60


@dataclass(frozen=True)
class Settings:
    """Secrets and endpoints from the environment (README: "WhatsApp")."""

    phone_number_id: str
    access_token: str
    app_secret: str
    verify_token: str
    api_base: str = DEFAULT_API_BASE
    # The WhatsApp Business Account that owns the number and its templates: optional to serve;
    # without it the server cannot read Meta's review of the templates (template_admin.py).
    business_account_id: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> "Settings":
        names = ("WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
        missing = [name for name in names if not environ.get(name)]
        if missing:
            # Without the app secret nobody can tell Meta's webhooks from forged ones.
            raise ConfigError(f"WhatsApp channel: set {', '.join(missing)} in the environment (see docs/whatsapp.md)")
        short = [name for name in ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")
                 if len(environ[name].strip()) < SECRET_MIN or environ[name] != environ[name].strip()]
        if short:
            raise ConfigError(f"WhatsApp channel: {', '.join(short)} must be at least {SECRET_MIN} characters, "
                              "without spaces around them (the app secret is on the Meta app's Basic "
                              "settings page; choose a long random verify token)")
        return cls(*(environ[name] for name in names), api_base=environ.get("WHATSAPP_API_BASE") or DEFAULT_API_BASE,
                   business_account_id=environ.get(BUSINESS_ACCOUNT_VARIABLE, "").strip() or None)


class ApiBaseTransport(httpx.AsyncBaseTransport):
    """pywa always builds https://graph.facebook.com/v{N}/... URLs: this sends them to
    WHATSAPP_API_BASE instead (a proxy, or the fake Graph API in tests). Other hosts -- media
    downloads from the URL the Graph API gave (lookaside.fbsbx.com) -- go where they point."""

    def __init__(self, base: str) -> None:
        self._base = httpx.URL(base.rstrip("/"))
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != GRAPH_HOST:
            return await self._inner.handle_async_request(request)
        request.url = request.url.copy_with(scheme=self._base.scheme, host=self._base.host, port=self._base.port,
                                            path=self._base.path.rstrip("/") + request.url.path)
        request.headers["Host"] = self._base.netloc.decode()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def make_client(settings: Settings, config: WhatsAppConfig) -> tuple[WhatsApp, httpx.AsyncClient]:
    """pywa's client on our own HTTP session (closed on shutdown)."""
    session = httpx.AsyncClient(transport=ApiBaseTransport(settings.api_base), timeout=config.request_timeout_seconds)
    extra: dict[str, Any] = {"api_version": config.api_version} if config.api_version else {}
    if settings.business_account_id:
        extra["waba_id"] = settings.business_account_id
    # app_secret is always given: without it pywa's validator fails with a bare AssertionError.
    # Deduplication is the inbox's (persistent), not pywa's in-memory one.
    wa = WhatsApp(phone_id=settings.phone_number_id, token=settings.access_token, session=session,
                  verify_token=settings.verify_token, app_secret=settings.app_secret, validate_updates=True,
                  skip_duplicate_updates=False, **extra)
    return wa, session


class WhatsAppWebhook:
    def __init__(self, svc: Services, wa: WhatsApp, session: httpx.AsyncClient, sender: WhatsAppSender,
                 settings: Settings, config: WhatsAppConfig, templates: TemplateWatch | None = None) -> None:
        self.svc, self.wa, self.session, self.sender = svc, wa, session, sender
        self.settings, self.config = settings, config
        # Meta's review of our templates, recorded as its webhook events arrive.
        self.templates = templates or TemplateWatch(svc, wa, settings.business_account_id, config)
        self._tasks: set[asyncio.Future[Any]] = set()
        # Handling shares the event loop with the webhook, which must answer fast (Meta: median
        # under 250 ms): a burst of messages is handled a few people at a time, not all at once.
        # Each person has at most one handling task (and so one slot): one number flooding
        # thousands of messages, paced at one reply per 6 s, holds one slot, not all of them.
        self._handling = asyncio.Semaphore(config.handling_concurrency)
        self._drains: dict[str, asyncio.Task[None]] = {}
        # People whose task must drain again: a message was recorded while it was finishing.
        self._again: set[str] = set()
        # phone_number_ids of other numbers already reported (once each per process).
        self._foreign_reported: set[str] = set()

    async def verify(self, request: web.Request) -> web.Response:
        """Answers Meta's subscription challenge; anything else is refused."""
        query = request.query
        if query.get("hub.mode") != "subscribe":
            return web.Response(status=403, text="Forbidden")
        challenge, status = await self.wa.webhook_challenge_handler(vt=query.get("hub.verify_token"),
                                                                    ch=query.get("hub.challenge"))
        return web.Response(status=status, text=challenge or "")

    async def receive(self, request: web.Request) -> web.Response:
        """Checks the signature, records every message (committed), answers 200, handles later.

        The signature header is looked at before any of the body is read: missing -> 401, not
        of the shape Meta sends (whatever bytes it carries) -> 403; only then is the body read
        (bot/webhook_body.py: size limit, read timeout) and checked against it."""
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None:
            return web.Response(status=401, text="Unauthorized")
        if not SIGNATURE_SHAPE.fullmatch(signature):
            return web.Response(status=403, text="Forbidden")
        body = await read_body(request, self.svc.config.limits, "WhatsApp")
        if isinstance(body, web.Response):
            return body
        refused = await self.wa.webhook_update_validator(body, signature)
        if refused:
            text, status = refused
            return web.Response(status=status, text=text)
        try:
            update = json.loads(body)
        except (ValueError, RecursionError) as problem:  # not JSON, bad UTF-8, absurd numbers or nesting
            log.warning("WhatsApp webhook: refused a signed body that is not JSON (%s)", type(problem).__name__)
            return web.Response(status=400, text="Bad Request")
        if not isinstance(update, dict) or not isinstance(update.get("entry"), list):
            what = "an object without an entry list" if isinstance(update, dict) else f"a JSON {type(update).__name__}"
            log.warning("WhatsApp webhook: refused a signed body that is %s", what)
            return web.Response(status=400, text="Bad Request")
        contents = adapter.read_body(update, self.settings.phone_number_id)
        self.report(contents)
        fresh = await self.record(contents.messages)
        await self.record_statuses(contents.statuses)
        await self.record_template_updates(contents.template_updates)
        for channel_user in fresh:
            self._spawn(channel_user)
        return web.Response(text="ok")

    def report(self, contents: adapter.Body) -> None:
        """One log line for each thing in a body that is not recorded or applied."""
        for number in contents.foreign_numbers:
            if number not in self._foreign_reported:
                self._foreign_reported.add(number)
                log.warning("WhatsApp messages for phone_number_id %s, not ours (%s), are ignored: check "
                            "WHATSAPP_PHONE_NUMBER_ID (logged once per id)", number, self.settings.phone_number_id)
        for message_id in contents.without_sender:
            log.warning("ignored WhatsApp message %s: it names no sender (no wa_id, user_id or from)", message_id)
        for what in contents.unreadable:
            log.warning("ignored %s in a WhatsApp webhook", what)
        for field in contents.other_fields:
            log.info("WhatsApp webhook field %s is not used by this bot: ignored", field)

    async def record(self, messages: list[adapter.InboundMessage]) -> list[str]:
        """Inbox every new message; returns the people with something new to handle."""
        now = self.svc.clock.now()
        oldest = now - timedelta(hours=self.config.max_message_age_hours)
        people: list[str] = []
        for message in messages:
            sent_at = message.sent_at
            if sent_at is not None and sent_at < oldest:
                log.warning("ignored a replayed WhatsApp message from %s (sent %s)", who(message.channel_user),
                            sent_at.isoformat())
                continue
            seq = message.timestamp if message.timestamp is not None else int(now.timestamp())
            if await ingest.accept(self.svc, "wa", message.message_id, seq, message.channel_user,
                                   message.payload) and message.channel_user not in people:
                people.append(message.channel_user)
        return people

    async def record_statuses(self, statuses: list[adapter.StatusUpdate]) -> None:
        if not statuses:
            return
        async with self.svc.db.session() as session:
            outbox = Outbox(session, self.svc.cipher)
            for status in statuses:
                applied = await outbox.apply_status(status.message_id, status.status, status.at, status.error_code,
                                                    status.error_title)
                if not applied and not await outbox.knows(status.message_id):
                    log.debug("WhatsApp status %s for message %s, which this bot did not send: ignored",
                              status.status, status.message_id)
                    continue
                if status.status == "failed":
                    log.warning("WhatsApp message %s failed: %s %s", status.message_id, status.error_code,
                                status.error_title)
            await session.commit()

    async def record_template_updates(self, payloads: list[dict[str, Any]]) -> None:
        """Meta's review of a template (approved, rejected, paused...): recorded before the
        webhook answers, like a status; it concerns no person, so nothing enters the inbox."""
        updates = []
        for payload in payloads:
            try:
                updates.append(adapter.template_status(self.wa, payload))
            except Exception as problem:  # noqa: BLE001 - pywa raises KeyError, ValueError... on odd shapes
                log.warning("ignored a WhatsApp template status update pywa cannot read (%s)", type(problem).__name__)
        await self.templates.on_events(updates)

    async def decode(self, payload: dict[str, Any]) -> tuple[Inbound | None, str | None]:
        """A recorded message -> (event, the sender's number when WhatsApp shows it); an attached
        spreadsheet is downloaded first and becomes a Document."""
        if adapter.is_ignored(payload):
            return None, None
        update = adapter.decode(self.wa, payload)
        attachment = attachment_of(update)
        document = await self.download(attachment) if attachment is not None else None
        return document or event_of(update), known_phone(update)

    async def download(self, attachment: documents.Attachment) -> Document | None:
        """The media URL (valid 5 minutes; it gives the size), then the bytes with our access
        token; None when too big: the flow then answers it as any attachment."""
        media = await self.wa.get_media_url(attachment.file_id)
        if not documents.fits(media.file_size):
            return None

        async def fetch(handle: BinaryIO) -> None:
            async for chunk in self.wa.stream_media(media.url):
                handle.write(chunk)

        folder = self.svc.config.resolve(self.svc.config.officials.import_dir)
        return await documents.save(folder, attachment, fetch)

    async def handle(self, channel_user: str) -> None:
        """Handles one person's recorded messages, then anything held for their open window;
        again while more of theirs arrived meanwhile."""
        try:
            while True:
                self._again.discard(channel_user)
                try:
                    async with self._handling:
                        if await ingest.drain(self.svc, channel_user, self.decode):
                            await self.sender.flush_waiting(channel_user)
                except Exception:  # noqa: BLE001 - the inbox keeps the update; the sweep retries it
                    log.exception("handling WhatsApp messages of %s failed", who(channel_user))
                    return
                if channel_user not in self._again:
                    return
        finally:
            del self._drains[channel_user]

    def _spawn(self, channel_user: str) -> None:
        if channel_user in self._drains:
            self._again.add(channel_user)
            return
        task = asyncio.create_task(self.handle(channel_user))
        self._drains[channel_user] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def sweep(self) -> None:
        """At start, handle what a killed process recorded but never finished; then keep
        sweeping for updates whose handling task died."""
        grace = timedelta(0)
        while True:
            # A sweep runs as one of the background tasks: cancelling this loop (shutdown) leaves
            # turns under way to `stop`, which lets them finish within the grace.
            sweep = asyncio.ensure_future(self._sweep_once(grace))
            self._tasks.add(sweep)
            sweep.add_done_callback(self._tasks.discard)
            try:
                await asyncio.shield(sweep)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("WhatsApp inbox sweep failed")
            grace = timedelta(seconds=SWEEP_SECONDS)
            await asyncio.sleep(SWEEP_SECONDS)

    async def _sweep_once(self, grace: timedelta) -> None:
        await self.sender.refresh_held()
        await ingest.recover(self.svc, {"wa": self.decode}, grace=grace)

    async def idle(self) -> None:
        """Waits for the background handling still running (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self, timeout: float) -> None:
        """Shutdown: let the handling under way finish for `timeout` seconds, then cancel it (a
        cancelled turn's message stays recorded and is handled at the next start)."""
        try:
            await asyncio.wait_for(self.idle(), timeout)
        except TimeoutError:
            pass
        await self.close_tasks()

    async def close(self) -> None:
        await self.close_tasks()
        await self.session.aclose()

    async def close_tasks(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


WEBHOOK_KEY = web.AppKey("whatsapp", WhatsAppWebhook)


async def check_credentials(wa: WhatsApp, session: httpx.AsyncClient, settings: Settings) -> None:
    """Once at start: read our phone number with the token. Meta refusing the token or not
    knowing the number stops the start in one line naming the variable (exit 2), instead of
    /healthz saying ok until the first send fails."""
    try:
        number = await wa.get_business_phone_number()
    except WhatsAppError as problem:
        await session.aclose()
        variable = "WHATSAPP_ACCESS_TOKEN" if isinstance(problem, AuthorizationError) or problem.status_code in (
            401, 403) else "WHATSAPP_PHONE_NUMBER_ID"
        raise ConfigError(f"WhatsApp channel: Meta refused {variable} ({problem.code}: "
                          f"{' '.join(str(problem.message).split())[:160]})") from None
    except httpx.HTTPError as problem:
        await session.aclose()
        raise ConfigError(f"WhatsApp channel: the Graph API cannot be reached ({type(problem).__name__}; "
                          "WHATSAPP_API_BASE, or the network)") from None
    log.info("WhatsApp: sending as %s (%s)", number.display_phone_number or number.id, number.verified_name or "-")


async def setup(app: web.Application, svc: Services, environ: Mapping[str, str]) -> Channel:
    """Mounts the webhook and builds the sender; refuses to start without an app secret."""
    settings = Settings.from_environ(environ)
    config: WhatsAppConfig = svc.config.whatsapp
    wa, session = make_client(settings, config)
    await check_credentials(wa, session, settings)
    sender = WhatsAppSender(wa, svc, config)
    templates = TemplateWatch(svc, wa, settings.business_account_id, config)
    templates.on_change = sender.refresh_templates
    webhook = WhatsAppWebhook(svc, wa, session, sender, settings, config, templates)
    app[WEBHOOK_KEY] = webhook
    app.router.add_get(WEBHOOK_PATH, webhook.verify)
    app.router.add_post(WEBHOOK_PATH, webhook.receive)
    tasks = [webhook.sweep]
    if settings.business_account_id:
        # Meta's review of the templates: read at start, then every template_sync_minutes.
        tasks.append(templates.run)
    else:
        log.info("WhatsApp: %s is not set: the templates' status is not read from Meta (only from webhooks)",
                 BUSINESS_ACCOUNT_VARIABLE)
    return Channel("wa", sender=sender, tasks=tasks, close=webhook.close, stop=webhook.stop,
                   readiness=templates.readiness)

