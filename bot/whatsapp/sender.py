"""The one WhatsApp sender (handlers.delivery.Sender): everything sent on WhatsApp goes here.

It keeps to the number's limits (limits.py), renders replies (adapter.render), records each
message (storage/whatsapp.py) and turns Cloud API error codes into DeliveryResults:

- 130429 (throughput) and 131056 (pair rate): back off (base, then doubling: handlers/retry.py) and retry;
- 131047 (24-hour window closed): the configured template for this kind of message, else
  `needs_template` -- or, with window policy "wait", held until the person writes again;
- 131026 (undeliverable), 131049 (per-user marketing limit), 131050 (user stopped marketing):
  permanent, recorded, never retried;
- 131048 (spam flag): bulk sends pause for `spam_pause_minutes`, the error is logged and
  `on_spam_flag` -- a hook the campaign feature sets to tell administrators -- is called.

Outside the window (Person.last_inbound_at older than `window_hours`), nothing is sent
free-form: Meta would refuse it (131047) and count it against the number's quality.

A Reply that forwards a WhatsApp message (`Reply.forward`: a worker's photo for the official of
their ticket) sends its media again by its media id first (a location by its coordinates); an
image, video or document carries the reply's text as its caption, anything else is followed by
the text. A reference of another channel is not WhatsApp's to pass on: the text goes alone.
"""

from __future__ import annotations

import asyncio
import fnmatch
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pywa_async import WhatsApp
from pywa_async.errors import WhatsAppError
from pywa_async.types import Button as WaButton
from pywa_async.types import Section, SectionList, SectionRow
from pywa_async.types.templates import BodyText, TemplateLanguage

from bot.whatsapp.adapter import Labels, Outbound, render, template_values
from bot.whatsapp.config import TemplateSpec, WhatsAppConfig
from bot.ratelimit import PairLimiter, PriorityGate
from conversations.events import Button, Reply
from handlers.delivery import DeliveryResult, Priority
from handlers.outbox import delivery_rules
from handlers.retry import RetryPolicy
from handlers.services import Services
from storage.crypto import who
from storage.whatsapp import Outbox

log = logging.getLogger(__name__)

THROTTLED = {130429, 131056}
NEEDS_TEMPLATE = 131047
SPAM_FLAG = 131048
PERMANENT = {131026, 131049, 131050}
# 131026: not a WhatsApp user, old app or terms not accepted: nobody to reach on this id.
UNREACHABLE = {131026}
# How a DeliveryResult's error starts when the Graph API could not be reached at all.
NETWORK = "network:"


@dataclass(frozen=True)
class SpamFlag:
    """What `on_spam_flag` receives when Meta flags our messages as spam (131048)."""

    to: str
    at: datetime
    bulk_paused_until: datetime
    error: str


SpamHook = Callable[[SpamFlag], Awaitable[None] | None]
Operation = Callable[[], Awaitable[Any]]


# Media.ref types the sender re-sends, and those that take a caption.
RESENDABLE = frozenset({"image", "video", "audio", "voice", "document", "sticker", "location"})
CAPTIONED = frozenset({"image", "video", "document"})


def whatsapp_media(ref: str | None) -> tuple[str, str] | None:
    """(type, media id or "lat,lon") of a Media.ref "wa:<type>:<id>"; None for anything else
    (another channel's reference, or one that is not a plain media id: pywa would take a path or
    base64 for a file to upload)."""
    channel, _, rest = (ref or "").partition(":")
    kind, _, value = rest.partition(":")
    if channel != "wa" or kind not in RESENDABLE:
        return None
    if kind == "location":
        parts = value.split(",")
        try:
            latitude, longitude = (float(part) for part in parts)
        except ValueError:
            return None
        return (kind, value) if len(parts) == 2 and -90 <= latitude <= 90 and -180 <= longitude <= 180 else None
    return (kind, value) if value.isdigit() and len(value) <= 40 else None


class WhatsAppSender:
    channel = "wa"

    def __init__(self, wa: WhatsApp, svc: Services, config: WhatsAppConfig) -> None:
        self.wa, self.svc, self.config = wa, svc, config
        # Throttling (130429, 131056) and network errors: base, 2 x base, 4 x base, ...
        self.retry = RetryPolicy(base=config.retry_base_seconds, max_attempts=config.retry_attempts + 1)
        # The channel's one pacing: every message (replies, notices, campaigns) passes this gate.
        self.per_second = delivery_rules(svc).share(config.throughput_per_second)
        self.gate = PriorityGate(self.per_second)
        self.pairs = PairLimiter(config.pair_interval_seconds, config.pair_burst)
        self.bulk_paused_until: datetime | None = None
        # Set by whoever tells administrators (the campaign feature); called on 131048.
        self.on_spam_flag: SpamHook | None = None
        # People with messages held until they write (None: not read from the database yet).
        self._held: set[str] | None = None

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult:
        """Send one reply. `template` names the kind of message ("reminder", "approval_notice",
        "campaign") whose configured template replaces it outside the 24-hour window.
        ok with no message_id: held until the person writes again (window policy "wait").
        `replace` is ignored: the Cloud API cannot edit a business message once sent, so an
        update (a campaign's progress) always arrives as a new message."""
        if priority >= Priority.BULK and self.bulk_paused():
            return DeliveryResult(ok=False, error="bulk sending paused after a spam flag (131048)")
        kind = template or self._kind_of(reply)
        # A reply to someone who just wrote comes with their language, and their window is open
        # (should Meta disagree, 131047 is handled below): no lookup.
        if priority != Priority.REPLY or lang is None:
            lang, last_inbound = await self._person(to)
            if not self._in_window(last_inbound):
                return await self._outside_window(to, reply, priority, kind)
        result = await self._send_reply(to, reply, priority, lang)
        if result.needs_template:  # the window closed between our check and Meta's
            return await self._outside_window(to, reply, priority, kind)
        return result

    def bulk_paused(self) -> bool:
        return self.bulk_paused_until is not None and self.svc.clock.now() < self.bulk_paused_until

    async def refresh_held(self) -> None:
        """Who has messages held for their window (at start, and at every inbox sweep: another
        process may have held some)."""
        async with self.svc.db.session() as session:
            self._held = set(await Outbox(session, self.svc.cipher).people_waiting())

    async def flush_waiting(self, channel_user: str) -> int:
        """The person wrote, so their window is open: send what was held for them (oldest
        first), or drop what waited longer than `wait_max_hours`."""
        if self._held is None:
            await self.refresh_held()
        if channel_user not in (self._held or ()):
            return 0  # the usual case: nothing held, no query
        self._held.discard(channel_user)
        now = self.svc.clock.now()
        async with self.svc.db.session() as session:
            outbox = Outbox(session, self.svc.cipher)
            held = [(row.id, row.created_at, row.priority, outbox.body(row)) for row in await outbox.waiting_for(channel_user)]
        if not held:
            return 0
        lang, _ = await self._person(channel_user)
        sent = 0
        for row_id, created_at, priority, body in held:
            expired = now - created_at > timedelta(hours=self.config.wait_max_hours)
            if not expired:
                reply = Reply(body["key"], body["text"], tuple(Button(b["id"], b["title"]) for b in body["buttons"]),
                              document=body.get("document"), image=body.get("image"), forward=body.get("forward"))
                sent += (await self._send_reply(channel_user, reply, Priority(priority), lang)).ok
            async with self.svc.db.session() as session:
                await Outbox(session, self.svc.cipher).close_waiting(row_id, "expired" if expired else "released", now)
                await session.commit()
        return sent

    # -- the 24-hour window ---------------------------------------------------------------------
    async def _person(self, channel_user: str) -> tuple[str, datetime | None]:
        async with self.svc.db.session() as session:
            person = await Outbox(session, self.svc.cipher).person(channel_user)
        if person is None:
            return self.svc.rules.default_language, None
        return person.lang, person.last_inbound_at

    def _in_window(self, last_inbound: datetime | None) -> bool:
        return last_inbound is not None and self.svc.clock.now() - last_inbound < timedelta(hours=self.config.window_hours)

    def _kind_of(self, reply: Reply) -> str | None:
        for kind, spec in self.config.templates.items():
            if any(fnmatch.fnmatchcase(reply.key, pattern) for pattern in spec.keys):
                return kind
        return None

    async def _outside_window(self, to: str, reply: Reply, priority: Priority, kind: str | None) -> DeliveryResult:
        if self.config.window_policy == "wait":
            await self._hold(to, reply, priority, kind)
            return DeliveryResult(ok=True)
        spec = self.config.templates.get(kind) if kind else None
        if spec is None:
            return DeliveryResult(ok=False, needs_template=True,
                                  error=f"outside the 24-hour window; no template configured for {kind or reply.key}")
        return await self._send_template(to, reply, priority, kind or "", spec)

    async def _hold(self, to: str, reply: Reply, priority: Priority, kind: str | None) -> None:
        if self._held is not None:
            self._held.add(to)
        async with self.svc.db.session() as session:
            Outbox(session, self.svc.cipher).record(to, "held", "waiting", self.svc.clock.now(), template=kind,
                                                    priority=int(priority), body={"key": reply.key, **reply.to_json()})
            await session.commit()

    # -- sending --------------------------------------------------------------------------------
    def _labels(self, lang: str) -> Labels:
        text = self.svc.catalog.text
        return Labels(text(lang, "whatsapp.list.button"), text(lang, "whatsapp.list.section"),
                      text(lang, "whatsapp.numbered.hint"))

    async def _send_reply(self, to: str, reply: Reply, priority: Priority, lang: str) -> DeliveryResult:
        result = DeliveryResult(ok=True)
        messages = render(reply, self._labels(lang), self.config.render)
        forward = whatsapp_media(reply.forward)
        if forward is not None:
            kind, value = forward
            # An image, video or document carries a short text as its caption: one message.
            caption = (reply.text if kind in CAPTIONED and not reply.buttons and not reply.document
                       and not reply.image and 0 < len(reply.text) <= self.config.render.body_max else None)
            result = await self._call(to, priority, kind, self._resend(to, kind, value, caption))
            if not result.ok and (result.unreachable or result.needs_template
                                  or (result.error or "").startswith(NETWORK)):
                return result
            if not result.ok:
                # Meta refused it (a media id it no longer keeps): the text goes alone.
                log.info("could not send a worker's %s again to %s: its text goes alone", kind, who(to))
            elif caption is not None:
                return result
        for message in messages:
            result = await self._call(to, priority, message.kind, self._operation(to, message))
            if not result.ok:
                return result
        return result

    def _resend(self, to: str, kind: str, value: str, caption: str | None) -> Operation:
        """A received message's media sent again by its media id (or a location by its
        coordinates), as pywa's Message.copy does: the Cloud API has no forward."""
        recipient, wa = to.split(":", 1)[1], self.wa
        if kind == "location":
            latitude, longitude = (float(part) for part in value.split(","))
            return lambda: wa.send_location(to=recipient, latitude=latitude, longitude=longitude)
        if kind == "image":
            return lambda: wa.send_image(to=recipient, image=value, caption=caption)
        if kind == "video":
            return lambda: wa.send_video(to=recipient, video=value, caption=caption)
        if kind == "document":
            return lambda: wa.send_document(to=recipient, document=value, caption=caption, filename=None)
        if kind == "sticker":
            return lambda: wa.send_sticker(to=recipient, sticker=value)
        return lambda: wa.send_audio(to=recipient, audio=value, is_voice=True if kind == "voice" else None)

    def _operation(self, to: str, message: Outbound) -> Operation:
        recipient, wa = to.split(":", 1)[1], self.wa
        if message.kind == "buttons":
            buttons = [WaButton(title=title, callback_data=id_) for id_, title, _ in message.choices]
            return lambda: wa.send_message(to=recipient, text=message.text, buttons=buttons)
        if message.kind == "list":
            rows = [SectionRow(title=title, callback_data=id_, description=description)
                    for id_, title, description in message.choices]
            choices = SectionList(button_title=message.list_button,
                                  sections=[Section(title=message.list_section, rows=rows)])
            return lambda: wa.send_message(to=recipient, text=message.text, buttons=choices)
        if message.kind in ("document", "image"):
            # A local file is uploaded first (pywa: POST /{phone_id}/media), then sent by its id.
            media: Any = Path(message.media) if message.media and Path(message.media).exists() else message.media
            caption = message.text or None
            if message.kind == "document":
                return lambda: wa.send_document(to=recipient, document=media, caption=caption,
                                                filename=Path(str(message.media)).name)
            return lambda: wa.send_image(to=recipient, image=media, caption=caption)
        return lambda: wa.send_message(to=recipient, text=message.text)

    async def _send_template(self, to: str, reply: Reply, priority: Priority, kind: str,
                             spec: TemplateSpec) -> DeliveryResult:
        values = template_values(reply, spec.params)
        recipient = to.split(":", 1)[1]

        def operation() -> Awaitable[Any]:
            return self.wa.send_template(to=recipient, name=spec.name, language=TemplateLanguage(spec.language),
                                         params=[BodyText.params(*values)] if values else None)

        return await self._call(to, priority, "template", operation, template=spec.name)

    async def _call(self, to: str, priority: Priority, kind: str, operation: Operation,
                    template: str | None = None) -> DeliveryResult:
        """One API call under the limits, retried on throttling; recorded either way."""
        recipient = to.split(":", 1)[1]
        for attempt in self.retry.attempts():
            await self.gate.acquire(int(priority))
            await self.pairs.acquire(recipient)
            try:
                sent = await operation()
            except WhatsAppError as error:
                delay = self.retry.delay(attempt)
                if error.code in THROTTLED and not self.retry.gives_up(attempt):
                    log.warning("WhatsApp %s to %s: backing off %.1f s", error.code, who(to), delay)
                    self._back_off(error.code, recipient, delay)
                    await asyncio.sleep(delay)
                    continue
                return await self._failed(to, priority, kind, template, error)
            except httpx.HTTPError as error:
                if not self.retry.gives_up(attempt):
                    await asyncio.sleep(self.retry.delay(attempt))
                    continue
                log.error("WhatsApp API unreachable sending to %s: %s", who(to), type(error).__name__)
                return DeliveryResult(ok=False, error=f"{NETWORK} {type(error).__name__}")
            await self._record(to, kind, "accepted", priority, template, message_id=sent.id)
            return DeliveryResult(ok=True, message_id=sent.id)
        raise AssertionError("unreachable: the last attempt returns")

    def _back_off(self, code: int, recipient: str, delay: float) -> None:
        if code == 130429:
            self.gate.pause(delay)
        else:
            self.pairs.penalise(recipient, delay)

    async def _failed(self, to: str, priority: Priority, kind: str, template: str | None,
                      error: WhatsAppError) -> DeliveryResult:
        description = f"{error.code}: {error.message}"
        await self._record(to, kind, "failed", priority, template, error_code=error.code, error_title=error.message)
        if error.code == NEEDS_TEMPLATE:
            return DeliveryResult(ok=False, needs_template=True, error=description)
        if error.code == SPAM_FLAG:
            await self._spam_flagged(to, description)
        elif error.code not in PERMANENT:
            log.error("WhatsApp refused a message to %s: %s", who(to), description)
        return DeliveryResult(ok=False, permanent=error.code in PERMANENT, unreachable=error.code in UNREACHABLE,
                              error=description)

    async def _spam_flagged(self, to: str, description: str) -> None:
        now = self.svc.clock.now()
        self.bulk_paused_until = now + timedelta(minutes=self.config.spam_pause_minutes)
        log.error("WhatsApp flagged our messages as spam (%s): bulk sending paused until %s; administrators "
                  "must review the campaigns", description, self.bulk_paused_until.isoformat())
        if self.on_spam_flag is not None:
            outcome = self.on_spam_flag(SpamFlag(to, now, self.bulk_paused_until, description))
            if inspect.isawaitable(outcome):
                await outcome

    async def _record(self, to: str, kind: str, status: str, priority: Priority, template: str | None,
                      **details: Any) -> None:
        async with self.svc.db.session() as session:
            Outbox(session, self.svc.cipher).record(to, kind, status, self.svc.clock.now(), template=template,
                                                    priority=int(priority), **details)
            await session.commit()
