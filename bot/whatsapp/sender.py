"""The one WhatsApp sender (handlers.delivery.Sender): everything sent on WhatsApp goes here.

It keeps to the number's limits (limits.py), renders replies (adapter.render), records each
message (storage/whatsapp.py) and turns Cloud API error codes into DeliveryResults:

- 130429 (throughput) and 131056 (pair rate): back off (base, then doubling: handlers/retry.py) and retry;
- 131047 (24-hour window closed): handled as any message outside the window (below);
- 131026 (undeliverable), 131049 (per-user marketing limit), 131050 (user stopped marketing):
  permanent, recorded, never retried;
- 131048 (spam flag): bulk sends pause for `spam_pause_minutes`, the error is logged and
  `on_spam_flag` -- a hook the campaign feature sets to tell administrators -- is called.

Outside the window (Person.last_inbound_at older than `window_hours`), nothing is sent
free-form: Meta would refuse it (131047) and count it against the number's quality. With
window policy "template", the message's template goes instead (bot/whatsapp/templates.py: the
kind named by the caller, else the one whose keys match the message's key), in the person's
language or, without an approved one in it, the programme's first language, with its
parameters read from the database (template_values.py). Only a template Meta has APPROVED is
used (storage/wa_templates.py, read again every `TEMPLATES_READ_SECONDS`). A notice's template
only announces it: the message itself is held and goes as soon as the person taps the quick
reply (or writes anything). Without an approved template, a notice is held for the person's
next message, as under window policy "wait"; a campaign or a reminder, which would pile up, is
not sent (`needs_template`). Either way the log says so, once per kind and language per read.

A Reply that forwards a WhatsApp message (`Reply.forward`: a worker's photo for the official of
their ticket) sends its media again by its media id first (a location by its coordinates); an
image, video or document carries the reply's text as its caption, anything else is followed by
the text. A reference of another channel is not WhatsApp's to pass on: the text goes alone.
"""

from __future__ import annotations

import asyncio
import dataclasses
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

from bot.whatsapp.adapter import Labels, Outbound, render
from bot.whatsapp.config import WhatsAppConfig
from bot.whatsapp.template_values import Context, Values, is_official
from bot.whatsapp.templates import BY_KIND, LANGUAGE_CODES, TemplateDef, kind_of
from bot.ratelimit import PairLimiter, PriorityGate
from conversations.events import Button, Reply
from handlers import metrics
from handlers.delivery import DeliveryResult, Priority
from handlers.outbox import delivery_rules
from handlers.retry import RetryPolicy
from handlers.services import Services
from storage.crypto import who
from storage.wa_templates import APPROVED, statuses
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
# Meta's statuses of our templates are read again after this long (another process, or the
# webhook, may have changed them).
TEMPLATES_READ_SECONDS = 60.0
# Kinds sent in bulk: without an approved template they are not held (they would pile up).
NOT_HELD = frozenset({"campaign", "reminder"})


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
        # (name, language) of the templates Meta has approved, and when that was read.
        self._approved: set[tuple[str, str]] = set()
        self._approved_read_at: float | None = None
        # (kind, language) already logged as having no approved template since the last read.
        self._missing_logged: set[tuple[str, str]] = set()

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult:
        """Send one reply. `template` names the kind of message ("reminder", "campaign": see
        bot/whatsapp/templates.py) whose template stands in for it outside the 24-hour window;
        without it the kind is found from the message's key.
        ok with no message_id: held until the person writes again (window policy "wait").
        `replace` is ignored: the Cloud API cannot edit a business message once sent, so an
        update (a campaign's progress) always arrives as a new message."""
        if priority >= Priority.BULK and self.bulk_paused():
            return DeliveryResult(ok=False, error="bulk sending paused after a spam flag (131048)")
        kind = template
        # A reply to someone who just wrote comes with their language, and their window is open
        # (should Meta disagree, 131047 is handled below): no lookup.
        if priority != Priority.REPLY or lang is None:
            lang, last_inbound = await self._person(to)
            if not self._in_window(last_inbound):
                return await self._outside_window(to, reply, priority, kind, lang)
        result = await self._send_reply(to, reply, priority, lang)
        if result.needs_template:  # the window closed between our check and Meta's
            return await self._outside_window(to, reply, priority, kind, lang)
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

    # -- templates ------------------------------------------------------------------------------
    async def refresh_templates(self) -> None:
        """Read which templates Meta has approved (at start, after a sync, and every
        TEMPLATES_READ_SECONDS when a template is needed)."""
        async with self.svc.db.session() as session:
            found = await statuses(session)
        self._approved = {key for key, status in found.items() if status == APPROVED}
        self._approved_read_at = asyncio.get_running_loop().time()
        self._missing_logged.clear()

    async def _templates_read(self) -> None:
        read_at = self._approved_read_at
        if read_at is None or asyncio.get_running_loop().time() - read_at > TEMPLATES_READ_SECONDS:
            await self.refresh_templates()

    def template_for(self, kind: str, lang: str) -> tuple[TemplateDef, str] | None:
        """The approved template of `kind` and the language it goes in: the person's, else the
        programme's first language; None when neither is approved (as last read)."""
        template = BY_KIND.get(kind)
        if template is None:
            return None
        for candidate in dict.fromkeys((lang, self.svc.rules.default_language)):
            code = LANGUAGE_CODES.get(candidate)
            if code is not None and self.svc.catalog.has(template.body_key) \
                    and (template.name, code) in self._approved:
                return template, candidate
        return None

    def reaches_outside_window(self, key: str, lang: str, official: bool = False) -> bool:
        """Whether a message with catalog key `key` reaches somebody outside the 24-hour window
        now: window policy "template" and an approved template for it. Handlers ask this to
        tell an official the truth about a notice (read from the last refresh, no query)."""
        return self.config.window_policy == "template" and \
            self.template_for(kind_of(key, official), lang) is not None

    async def _outside_window(self, to: str, reply: Reply, priority: Priority, kind: str | None,
                              lang: str) -> DeliveryResult:
        if self.config.window_policy == "wait":
            await self._hold(to, reply, priority, kind)
            return DeliveryResult(ok=True)
        await self._templates_read()
        if kind is None:
            async with self.svc.db.session() as session:
                kind = kind_of(reply.key, await is_official(session, to))
        found = self.template_for(kind, lang)
        if found is None:
            if (kind, lang) not in self._missing_logged:
                self._missing_logged.add((kind, lang))
                log.warning("no approved WhatsApp template for %s (%s): %s outside the 24-hour window", kind, lang,
                            "not sent" if kind in NOT_HELD else "held until the person writes")
            if kind in NOT_HELD:
                return DeliveryResult(ok=False, needs_template=True,
                                      error=f"outside the 24-hour window; no approved template for {kind}")
            await self._hold(to, reply, priority, kind)
            return DeliveryResult(ok=True)
        template, used = found
        async with self.svc.db.session() as session:
            values = await Values(session, self.svc.catalog, self.svc.config.regency.name,
                                  Context(to, reply.key, reply.text, used)).of(template)
        result = await self._send_template(to, template, used, values, priority)
        if result.ok and template.holds:
            await self._hold(to, reply, priority, kind)
        return dataclasses.replace(result, template=template.name) if result.ok else result

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

    async def _send_template(self, to: str, template: TemplateDef, lang: str, values: list[str],
                             priority: Priority) -> DeliveryResult:
        recipient = to.split(":", 1)[1]

        def operation() -> Awaitable[Any]:
            return self.wa.send_template(to=recipient, name=template.name,
                                         language=TemplateLanguage(LANGUAGE_CODES[lang]),
                                         params=[BodyText.params(*values)] if values else None)

        return await self._call(to, priority, "template", operation, template=template.name)

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
                if error.code in THROTTLED:
                    metrics.sent(to, "429")
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
