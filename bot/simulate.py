"""`python -m bot simulate`: the scriptable simulator, the contract for end-to-end tests.

stdin: one JSON object per line; stdout: one JSON object per message the bot sends, then
{"ack": N} after all output caused by input line N (flushed). See README for the format.

No line can stop it: a line that is not JSON (also absurd numbers or nesting), a value of the
wrong type, text that is not valid Unicode or a clock outside the years 2000-2999 gets
{"error": ..., "line": N}; anything else that goes wrong while handling a line is logged to
stderr and reported the same way; then the ack, and the next line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import datetime, timezone
from typing import IO, Any

from bot.worker import install_outreach
from conversations.events import ButtonPress, ContactShared, Inbound, Media, Reply, Text
from handlers.clock import FixedClock
from handlers.delivery import DeliveryResult, Outgoing, Priority
from handlers.maintenance import run_due
from handlers.outbox import drain
from handlers.router import dispatch
from handlers.services import Services

log = logging.getLogger(__name__)
USER_ID = re.compile(r"^(tg|wa):[A-Za-z0-9_.\-]{1,64}$")
MEDIA_KINDS = {"photo", "sticker", "voice", "audio", "video", "location", "document", "reaction", "unsupported"}
# The simulated clock stays where dates can still be computed (reminders add days and years).
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2999, 12, 31, tzinfo=timezone.utc)


class InputError(ValueError):
    pass


def parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise InputError("clock must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"clock is not ISO 8601: {value!r}") from None
    if moment.tzinfo is None:
        raise InputError("clock needs a UTC offset, e.g. 2026-12-01T09:00:00+07:00")
    try:
        inside = EARLIEST <= moment <= LATEST
    except OverflowError:  # an offset that pushes it past year 1 or 9999
        inside = False
    if not inside:
        raise InputError("clock must be between the years 2000 and 2999")
    return moment


def _string(obj: dict[str, Any], key: str, what: str) -> str:
    value = obj[key]
    if not isinstance(value, str):
        raise InputError(f'"{key}" must be {what}')
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800"): not text anyone can type
        raise InputError(f'"{key}" is not valid Unicode') from None
    return value


class SimSender:
    """The simulator's sender on every channel: what the outbox worker sends (reminders,
    campaigns) is printed like any other message."""

    def __init__(self, channel: str, simulator: "Simulator") -> None:
        self.channel = channel
        self.simulator = simulator
        self.sent = 0

    async def send(self, to: str, reply: Reply, priority: Priority = Priority.REPLY,
                   template: str | None = None, replace: str | None = None,
                   lang: str | None = None) -> DeliveryResult:
        """Printed as a new message; `replace` shows as "replaces": the id it updates."""
        self.simulator.emit_messages([Outgoing(to, reply)], replaces=replace)
        self.sent += 1
        return DeliveryResult(ok=True, message_id=f"sim-{self.channel}-{self.sent}")

    def reaches_outside_window(self, key: str, lang: str, official: bool = False) -> bool:
        """The simulator delivers everything: as if every template were approved."""
        return True


class Simulator:
    def __init__(self, svc: Services, clock: FixedClock, out: IO[str]) -> None:
        self.svc = svc
        self.clock = clock
        self.out = out
        # The buttons of the last message sent to each person: {"button": ...} refers to them.
        self.last_buttons: dict[str, list[dict[str, str]]] = {}
        # The outbox (reminders, campaigns) is sent after every line, in simulated time.
        for channel in ("tg", "wa"):
            svc.senders[channel] = SimSender(channel, self)
        install_outreach(svc)

    def emit(self, obj: dict[str, Any]) -> None:
        try:
            self.out.write(json.dumps(obj, ensure_ascii=False) + "\n")
        except UnicodeEncodeError:  # an output stream that cannot show every character
            self.out.write(json.dumps(obj) + "\n")

    def emit_messages(self, messages: list[Outgoing], replaces: str | None = None) -> None:
        for message in messages:
            body = message.reply.to_json()
            self.last_buttons[message.to] = body["buttons"]
            self.emit({"to": message.to, **body, **({"replaces": replaces} if replaces else {})})

    def event_of(self, obj: dict[str, Any]) -> tuple[str, Inbound]:
        sender = obj.get("from")
        if not isinstance(sender, str) or not USER_ID.match(sender):
            raise InputError('"from" must be "tg:<id>" or "wa:<id>"')
        if "text" in obj:
            return sender, Text(_string(obj, "text", "a string"))
        if "button" in obj:
            wanted = _string(obj, "button", "a string")
            buttons = self.last_buttons.get(sender, [])
            match = next((b for b in buttons if b["id"] == wanted), None) or next(
                (b for b in buttons if b["title"].casefold() == wanted.casefold()), None)
            # A button that is not on the last message is passed on as pressed: the flow answers
            # it as a stale button, as it would a tap on an old message.
            return sender, ButtonPress(match["id"] if match else wanted)
        if "contact" in obj:
            phone = _string(obj, "contact", "a phone number string")
            return sender, ContactShared(phone=phone, is_own=obj.get("contact_user") == sender)
        if "media" in obj:
            kind = obj["media"]
            if not isinstance(kind, str) or kind not in MEDIA_KINDS:
                raise InputError(f'"media" must be one of {sorted(MEDIA_KINDS)}')
            return sender, Media(kind)
        raise InputError('expected one of "text", "button", "contact", "media" or "clock"')

    async def line(self, number: int, raw: str) -> None:
        try:
            try:
                obj = json.loads(raw)
            except (ValueError, RecursionError) as problem:  # also 5,000-digit numbers, deep nesting
                raise InputError(f"not a JSON object ({type(problem).__name__})") from None
            if not isinstance(obj, dict):
                raise InputError("each line must be a JSON object")
            if "clock" in obj:
                moment = parse_time(obj["clock"])
                if moment < self.clock.now():
                    raise InputError("the clock only moves forward")
                self.clock.set(moment)
                due = await run_due(self.svc)
                self.emit_messages([m if isinstance(m, Outgoing) else Outgoing(*m) for m in due])
            else:
                sender, event = self.event_of(obj)
                # The turn's messages go out through the simulator's senders (printed there).
                await dispatch(self.svc, sender, event)
            await drain(self.svc)
        except InputError as problem:
            self.emit({"error": str(problem), "line": number})
        except Exception as problem:  # noqa: BLE001 - a line must never stop the simulator
            log.exception("simulator line %d failed", number)
            self.emit({"error": f"internal error ({type(problem).__name__})", "line": number})
        self.emit({"ack": number})
        self.out.flush()

    async def run(self, source: IO[str]) -> None:
        for number, raw in enumerate(iter(source.readline, ""), start=1):
            if raw.strip():
                await self.line(number, raw)
            else:
                self.emit({"ack": number})
                self.out.flush()


async def simulate(svc: Services, clock: FixedClock, source: IO[str] | None = None, out: IO[str] | None = None) -> None:
    # sys.stdin/stdout are looked up per call, not bound at import, so that a replaced stream is used.
    await Simulator(svc, clock, out or sys.stdout).run(source or sys.stdin)
