"""The admin's broadcast compose dialogue, pure: (state, event, ctx) -> (state, replies, effect).

    text --(typed | "KKBC" button)--> text_en --(typed | skip)--> image --(https link | skip)-->
    audience <--> pick (one dimension's values) --"count"--> [CountAudience] --> preview
    preview --"now"--> confirm ;  preview --"later"--> when --(DD-MM-YYYY HH:MM)--> confirm
    confirm --"send"--> [Schedule] (done) ;  any step --"cancel"--> [Discard]

Every wait accepts "cancel"; every input that is not understood is answered ("other"). The
handler (handlers/campaigns.py) performs the effects; only the audience count comes back as an
event, with what the broadcast will cost on WhatsApp (conversations/pricing.py), shown in the
preview and again when the admin confirms. Progress and final reports are rendered here too,
from plain numbers.
"""

from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, Field

from conversations import pricing
from conversations.events import Button, ButtonPress, Event, Reply, Text
from conversations.understand import read_choice
from conversations.validators import contains_nik
from conversations.wilayah import Wilayah

# Audience dimensions, in the order offered. "nagari" is typed (62 villages: more than any
# platform's list holds); the others are buttons (WhatsApp list: at most 10 rows).
DIMENSIONS = ("kecamatan", "nagari", "category", "status", "channel", "lang")
STATUSES = ("pending", "correction", "waiting", "approved", "enrolled", "rejected")
# Statuses the audience's breakdown names; anything else (no registration) is counted apart.
BREAKDOWN_STATUSES = STATUSES + ("withdrawn", "ended", "deletion_requested")
CHANNELS = {"tg": "Telegram", "wa": "WhatsApp"}
WHEN = re.compile(r"^\s*(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})\s+(\d{1,2})[:.](\d{2})\s*$")
CANCEL_WORDS = {"batal", "cancel", "/batal", "/cancel"}


class CampaignContent(BaseModel):
    """config.yaml `campaigns:`: the ready-made "Kerja Keras Bebas Cemas" text and the commands."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kkbc_id: str = Field(min_length=20, max_length=4000)  # Telegram: 4096 characters per message
    kkbc_en: str = Field(min_length=20, max_length=4000)
    image: str | None = None
    commands: tuple[str, ...] = ("/siaran", "/broadcast")
    # How often a running campaign's admin is told its progress (0: only when asked).
    progress_every_minutes: int = Field(default=15, ge=0)


@dataclass
class ComposeState:
    step: str = "text"
    text_id: str | None = None
    text_en: str | None = None
    image: str | None = None
    audience: dict[str, Any] = field(default_factory=dict)
    picking: str | None = None
    count: int | None = None
    # The counted audience by registration status ("none": no registration) and by language.
    breakdown: dict[str, dict[str, int]] = field(default_factory=dict)
    # The counted audience by what their message costs (pricing.Recipients as a dict).
    recipients: dict[str, Any] = field(default_factory=dict)
    scheduled_at: str | None = None  # ISO 8601

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ComposeState":
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


# Effects for the handler.
@dataclass(frozen=True)
class CountAudience:
    audience: dict[str, Any]


@dataclass(frozen=True)
class Schedule:
    at: datetime


@dataclass(frozen=True)
class Discard:
    pass


@dataclass(frozen=True)
class AudienceCounted:
    count: int
    by_status: dict[str, int] = field(default_factory=dict)
    by_lang: dict[str, int] = field(default_factory=dict)
    # By channel and 24-hour window: what the broadcast will cost (None: not counted).
    recipients: pricing.Recipients | None = None


ComposeEffect = CountAudience | Schedule | Discard


@dataclass(frozen=True)
class ComposeCtx:
    lang: str
    t: Callable[..., str]  # t(lang, key, **params)
    wilayah: Wilayah
    content: CampaignContent
    categories: dict[str, str]  # id -> title in the admin's language
    now: datetime  # local time (WIB)
    # The price of one delivered broadcast template (config.yaml whatsapp.pricing); None: no estimate.
    rate: pricing.Rate | None = None


# Steps whose buttons may also be typed in words (the others take free text or a time).
TYPED_CHOICE_STEPS = frozenset({"audience", "pick", "preview", "confirm"})


@dataclass
class ComposeOutcome:
    state: ComposeState
    replies: list[Reply] = field(default_factory=list)
    effect: ComposeEffect | None = None


def start(ctx: ComposeCtx) -> ComposeOutcome:
    """Opens a new compose dialogue: asks for the text."""
    flow = _Compose(ComposeState(), ctx)
    flow.ask_text()
    return flow.out


def handle(state: ComposeState, event: Event | AudienceCounted, ctx: ComposeCtx) -> ComposeOutcome:
    """One step of the dialogue. Never raises for any input."""
    flow = _Compose(ComposeState.from_dict(state.to_dict()), ctx)
    flow.dispatch(event)
    return flow.out


class _Compose:
    def __init__(self, state: ComposeState, ctx: ComposeCtx) -> None:
        self.state = state
        self.ctx = ctx
        self.out = ComposeOutcome(state)

    def t(self, key: str, **params: Any) -> str:
        return self.ctx.t(self.ctx.lang, key, **params)

    def say(self, key: str, buttons: list[Button] | None = None, **params: Any) -> None:
        self.out.replies.append(Reply(key, self.t(key, **params), tuple(buttons or ())))

    def button(self, ident: str, key: str, **params: Any) -> Button:
        return Button(f"camp:{ident}", self.t(key, **params))

    @property
    def cancel(self) -> Button:
        return self.button("cancel", "btn.camp.cancel")

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, event: Event | AudienceCounted) -> None:
        if isinstance(event, AudienceCounted):
            self.state.count = event.count
            self.state.breakdown = {"status": dict(event.by_status), "lang": dict(event.by_lang)}
            self.state.recipients = event.recipients.to_dict() if event.recipients else {}
            self.show_preview()
            return
        pressed = event.button_id[5:] if isinstance(event, ButtonPress) and event.button_id.startswith("camp:") else None
        text = event.text.strip() if isinstance(event, Text) else None
        if pressed == "cancel" or (text or "").lower() in CANCEL_WORDS:
            self.say("campaign.compose.cancelled")
            self.out.effect = Discard()
            return
        if text and pressed is None and self.state.step in TYPED_CHOICE_STEPS:
            # A typed "kirim", "hitung" or "Sijunjung" means the button it names, read by the
            # same reader as every other step's choices.
            reading = read_choice(text, self.shown_buttons(), numbers_shown=False)
            if reading is not None and reading.sure and reading.button.id.startswith("camp:"):
                pressed = reading.button.id[5:]
        handler = getattr(self, f"on_{self.state.step}", None)
        if handler is None or not handler(pressed, text):
            self.say("campaign.compose.not_understood")
            self.reprompt()

    def shown_buttons(self) -> list[Button]:
        """The buttons of the current step's question, as it would be asked now."""
        saved, count = copy.deepcopy(self.state), len(self.out.replies)
        self.reprompt()
        buttons = [b for r in self.out.replies[count:] for b in r.buttons]
        del self.out.replies[count:]
        self.state = self.out.state = saved
        return buttons

    def reprompt(self) -> None:
        {"text": self.ask_text, "text_en": self.ask_text_en, "image": self.ask_image,
         "audience": self.ask_audience, "pick": self.ask_pick, "preview": self.show_preview,
         "when": self.ask_when, "confirm": self.ask_confirm}.get(self.state.step, self.ask_text)()

    # -- text, image --------------------------------------------------------------------------
    def ask_text(self) -> None:
        self.state.step = "text"
        self.say("campaign.compose.text", [self.button("kkbc", "btn.camp.kkbc"), self.cancel])

    def on_text(self, pressed: str | None, text: str | None) -> bool:
        if pressed == "kkbc":
            self.state.text_id, self.state.text_en = self.ctx.content.kkbc_id, self.ctx.content.kkbc_en
            self.state.image = self.state.image or self.ctx.content.image
            # The ready text invites people to register: not to those already approved or
            # enrolled, unless the admin chooses them (a status) or clears the audience.
            self.state.audience["not_covered"] = True
            self.ask_audience()
            return True
        if text and contains_nik(text):
            self.refuse_nik()
            return True
        if text and len(text) <= 4000:  # Telegram: 4096 characters per message
            self.state.text_id = text
            self.ask_text_en()
            return True
        return False

    def ask_text_en(self) -> None:
        self.state.step = "text_en"
        self.say("campaign.compose.text_en", [self.button("skip", "btn.camp.skip"), self.cancel])

    def refuse_nik(self) -> None:
        """A broadcast goes to many people: a NIK-shaped number in it is refused, not kept."""
        self.say("campaign.compose.nik_in_text")
        self.reprompt()

    def on_text_en(self, pressed: str | None, text: str | None) -> bool:
        if text and contains_nik(text):
            self.refuse_nik()
            return True
        if pressed == "skip" or (text and len(text) <= 4000):
            self.state.text_en = None if pressed == "skip" else text
            self.ask_image()
            return True
        return False

    def ask_image(self) -> None:
        self.state.step = "image"
        self.say("campaign.compose.image", [self.button("skip", "btn.camp.skip"), self.cancel])

    def on_image(self, pressed: str | None, text: str | None) -> bool:
        if pressed == "skip":
            self.ask_audience()
            return True
        if text and text.startswith("https://") and " " not in text and len(text) <= 500:
            self.state.image = text
            self.ask_audience()
            return True
        return False

    # -- audience -----------------------------------------------------------------------------
    def describe(self) -> str:
        """The audience in words: "semua" when nothing is chosen."""
        audience = self.state.audience
        parts = []
        for dim in DIMENSIONS:
            if audience.get(dim):
                names = ", ".join(self.label(dim, value) for value in audience[dim])
                parts.append(f"{self.t('campaign.dim.' + dim)}: {names}")
        if audience.get("unfinished"):
            parts.append(self.t("campaign.dim.unfinished"))
        if audience.get("not_covered") and not audience.get("status"):
            parts.append(self.t("campaign.dim.not_covered"))
        if audience.get("officials"):
            parts.append(self.t("campaign.dim.officials"))
        return "; ".join(parts) or self.t("campaign.audience.everyone")

    def describe_breakdown(self) -> str:
        """The counted audience by status and by language, one line each."""
        by_status = self.state.breakdown.get("status", {})
        by_lang = self.state.breakdown.get("lang", {})
        statuses = ", ".join(f"{self.t('campaign.status.' + (s if s in BREAKDOWN_STATUSES else 'no_registration'))} {n}"
                             for s, n in sorted(by_status.items(), key=lambda item: -item[1]))
        langs = ", ".join(f"{self.label('lang', code)} {n}" for code, n in sorted(by_lang.items(), key=lambda i: -i[1]))
        text = self.t("campaign.compose.breakdown", statuses=statuses or "-", langs=langs or "-")
        recipients = pricing.Recipients.from_dict(self.state.recipients)
        if recipients is not None and self.ctx.rate is not None:
            # What it costs, per channel, before anything is confirmed.
            text = f"{text}\n{pricing.describe(self.ctx.t, self.ctx.lang, recipients, self.ctx.rate)}"
        return text

    def label(self, dim: str, value: str) -> str:
        if dim == "kecamatan":
            kecamatan = self.ctx.wilayah.kecamatan_by_code(value)
            return kecamatan.name if kecamatan else value
        if dim == "nagari":
            nagari = self.ctx.wilayah.by_code(value)
            return nagari.name if nagari else value
        if dim == "category":
            return self.ctx.categories.get(value, value)
        if dim == "status":
            return self.t(f"campaign.status.{value}")
        if dim == "channel":
            return CHANNELS.get(value, value)
        return self.ctx.t(value, "language.name")

    def ask_audience(self) -> None:
        self.state.step, self.state.picking = "audience", None
        buttons = [self.button(f"dim:{dim}", f"campaign.dim.{dim}") for dim in DIMENSIONS]
        buttons += [self.button("unfinished", "campaign.dim.unfinished"),
                    self.button("officials", "campaign.dim.officials"), self.button("clear", "btn.camp.clear"),
                    self.button("count", "btn.camp.count")]
        self.say("campaign.compose.audience", buttons, audience=self.describe())

    def on_audience(self, pressed: str | None, text: str | None) -> bool:
        if pressed and pressed.startswith("dim:") and pressed[4:] in DIMENSIONS:
            self.state.picking = pressed[4:]
            self.ask_pick()
        elif pressed in ("unfinished", "officials"):
            self.state.audience[pressed] = not self.state.audience.get(pressed)
            self.ask_audience()
        elif pressed == "clear":
            self.state.audience = {}
            self.ask_audience()
        elif pressed == "count":
            self.out.effect = CountAudience(dict(self.state.audience))
        else:
            return False
        return True

    def choices(self, dim: str) -> list[tuple[str, str]]:
        if dim == "kecamatan":
            return [(k.code, k.name) for k in self.ctx.wilayah.kecamatan]
        if dim == "category":
            return list(self.ctx.categories.items())
        if dim == "status":
            return [(s, self.label("status", s)) for s in STATUSES]
        if dim == "channel":
            return list(CHANNELS.items())
        if dim == "lang":
            return [(code, self.label("lang", code)) for code in ("id", "en")]
        return []  # nagari: typed

    def ask_pick(self) -> None:
        self.state.step = "pick"
        dim = self.state.picking or "kecamatan"
        buttons = [Button(f"camp:val:{value}", title[:24]) for value, title in self.choices(dim)]
        key = "campaign.compose.pick_nagari" if dim == "nagari" else "campaign.compose.pick"
        self.say(key, buttons, dimension=self.t(f"campaign.dim.{dim}"))

    def on_pick(self, pressed: str | None, text: str | None) -> bool:
        dim = self.state.picking or "kecamatan"
        value = None
        if pressed and pressed.startswith("val:"):
            value = pressed[4:] if pressed[4:] in dict(self.choices(dim)) else None
        elif text and dim == "nagari":
            match = self.ctx.wilayah.match(text)
            value = match.nagari.code if match.nagari else None
        if value is None:
            return False
        chosen = self.state.audience.setdefault(dim, [])
        if value not in chosen:
            chosen.append(value)
        self.ask_audience()
        return True

    # -- preview, schedule, confirm -----------------------------------------------------------
    def preview_text(self) -> str:
        return self.state.text_id or ""

    def show_preview(self) -> None:
        self.state.step = "preview"
        buttons = [self.button("now", "btn.camp.now"), self.button("later", "btn.camp.later"),
                   self.button("audience", "btn.camp.audience"), self.cancel]
        if not self.state.count:
            # Nobody to send to: it cannot be scheduled, only the audience changed.
            buttons = [self.button("audience", "btn.camp.audience"), self.cancel]
        self.say("campaign.compose.preview", buttons, count=self.state.count or 0, audience=self.describe(),
                 breakdown=self.describe_breakdown(), text=self.preview_text(), image=self.state.image or "-")

    def on_preview(self, pressed: str | None, text: str | None) -> bool:
        if pressed in ("now", "later") and not self.state.count:
            self.say("campaign.compose.empty")
            self.ask_audience()
            return True
        if pressed == "now":
            self.state.scheduled_at = self.ctx.now.isoformat()
            self.ask_confirm()
        elif pressed == "later":
            self.ask_when()
        elif pressed == "audience":
            self.ask_audience()
        else:
            return False
        return True

    def ask_when(self) -> None:
        self.state.step = "when"
        self.say("campaign.compose.when", [self.cancel])

    def on_when(self, pressed: str | None, text: str | None) -> bool:
        moment = parse_when(text or "", self.ctx.now)
        if moment is None or moment <= self.ctx.now:
            self.say("campaign.compose.when_invalid")
            self.ask_when()
            return True
        self.state.scheduled_at = moment.isoformat()
        self.ask_confirm()
        return True

    def ask_confirm(self) -> None:
        self.state.step = "confirm"
        when = datetime.fromisoformat(self.state.scheduled_at or self.ctx.now.isoformat())
        key = "campaign.compose.confirm"
        text = self.t(key, count=self.state.count or 0, when=format_moment(when, self.ctx.now))
        recipients = pricing.Recipients.from_dict(self.state.recipients)
        if recipients is not None and self.ctx.rate is not None:
            # The estimate again, on the message whose button sends.
            text = f"{text}\n{pricing.cost_line(self.ctx.t, self.ctx.lang, recipients, self.ctx.rate)}"
        self.out.replies.append(Reply(key, text, (self.button("send", "btn.camp.send"), self.cancel)))

    def on_confirm(self, pressed: str | None, text: str | None) -> bool:
        if pressed != "send":
            return False
        if not self.state.count:
            self.say("campaign.compose.empty")
            self.ask_audience()
            return True
        self.out.effect = Schedule(datetime.fromisoformat(self.state.scheduled_at or self.ctx.now.isoformat()))
        self.state.step = "done"
        return True


def parse_when(text: str, now: datetime) -> datetime | None:
    """"DD-MM-YYYY HH:MM" in the regency's time zone (that of `now`)."""
    found = WHEN.match(text)
    if not found:
        return None
    day, month, year, hour, minute = (int(g) for g in found.groups())
    try:
        return datetime(year, month, day, hour, minute, tzinfo=now.tzinfo)
    except ValueError:
        return None


def format_moment(moment: datetime, now: datetime) -> str:
    return moment.astimezone(now.tzinfo).strftime("%d-%m-%Y %H:%M WIB")


# -- progress and report ----------------------------------------------------------------------
@dataclass(frozen=True)
class Progress:
    campaign_id: int
    state: str
    total: int
    sent: int
    failed: int
    skipped: int
    per_minute: float  # sent in the last minutes, per minute
    # Local time ("07:00") until which every message left is held (quiet hours), else None.
    held_until: str | None = None

    @property
    def done(self) -> int:
        return self.sent + self.failed + self.skipped

    def time_left(self) -> timedelta | None:
        left = self.total - self.done
        if left <= 0:
            return timedelta(0)
        return timedelta(minutes=left / self.per_minute) if self.per_minute > 0 else None


def render_progress(t: Callable[..., str], lang: str, progress: Progress) -> Reply:
    """Sent / total, rate and time left, with pause/resume/cancel buttons."""
    left = progress.time_left()
    minutes = "-" if left is None else str(max(0, round(left.total_seconds() / 60)))
    key = "campaign.progress"
    text = t(lang, key, id=progress.campaign_id, state=t(lang, f"campaign.state.{progress.state}"),
             sent=progress.sent, total=progress.total, failed=progress.failed, skipped=progress.skipped,
             rate=round(progress.per_minute), minutes=minutes)
    if progress.held_until and progress.state == "running":
        text = f"{text}\n{t(lang, 'campaign.progress.held', time=progress.held_until)}"
    action = "resume" if progress.state == "paused" else "pause"
    buttons = () if progress.state in ("done", "cancelled") else (
        Button(f"camp:{action}:{progress.campaign_id}", t(lang, f"btn.camp.{action}")),
        Button(f"camp:stop:{progress.campaign_id}", t(lang, "btn.camp.stop")))
    return Reply(key, text, buttons)


def render_report(t: Callable[..., str], lang: str, campaign_id: int, counts: dict[str, int],
                  reasons: dict[str, int], recipients: pricing.Recipients | None = None,
                  rate: pricing.Rate | None = None) -> Reply:
    """The final report: delivered, failed and skipped, with reasons; and, given the sent
    messages by cost (`recipients`) and the template's rate, what the broadcast cost."""
    lines = "\n".join(f"• {t(lang, 'campaign.reason.' + reason.split(':', 1)[0])}: {n}"
                      for reason, n in sorted(reasons.items(), key=lambda item: -item[1])) or "-"
    key = "campaign.report"
    text = t(lang, key, id=campaign_id, sent=counts.get("sent", 0), failed=counts.get("failed", 0),
             skipped=counts.get("skipped", 0), reasons=lines)
    if recipients is not None and rate is not None:
        text = f"{text}\n{pricing.describe(t, lang, recipients, rate, sent=True)}"
    return Reply(key, text)
