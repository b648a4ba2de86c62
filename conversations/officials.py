"""Officials' commands, pure: parse what an official typed or tapped, and render what the
handlers found (queue pages, details, quota, statistics, history) into Replies with catalog keys.

No I/O here: handlers/officials.py loads the data, checks the rights, and calls these. The
configuration of the officials' features (`officials:` in config.yaml) is validated here too,
as conversations/rules.py does for the registration flow.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from conversations.events import Button, Reply
from conversations.form import SUMMARY_LINES
from conversations.i18n import Catalog, rupiah
from conversations.validators import normalize_text

# ---------------------------------------------------------------------------------------------
# Configuration (config.yaml, section `officials:`)

# Columns an export may contain; handlers/exports_bpjs.py produces every one of them (one row
# builder for the officials' /ekspor and the server's `export` command).
EXPORT_FIELDS = (
    "reference", "status", "nik", "name", "sex", "birth_date", "nagari_code", "nagari",
    "kecamatan", "jorong", "address", "phone", "category", "income", "income_base",
    "monthly_contribution", "contribution_base", "contribution", "programmes", "funding_source",
    "heir_name", "heir_relation", "decided_at", "kpj", "coverage_start", "coverage_end",
    "created_at", "flags", "source",
)
# Spreadsheets turn long digit strings into numbers (Excel keeps 15 digits): these
# are written as text cells.
TEXT_FIELDS = frozenset({"nik", "phone", "kpj"})


class ExportColumn(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    header: str = Field(min_length=1, max_length=60)
    field: str


def _columns(*pairs: tuple[str, str]) -> tuple[ExportColumn, ...]:
    return tuple(ExportColumn(header=header, field=name) for header, name in pairs)


# The list a BPJS TK branch uploads: one person per row, kecamatan/nagari/jorong apart, the
# programme's contribution, the decision, and the KPJ and coverage once BPJS has enrolled them.
DEFAULT_EXPORT_COLUMNS = _columns(
    ("REFERENSI", "reference"), ("NIK", "nik"), ("NAMA LENGKAP", "name"), ("TGL LAHIR", "birth_date"),
    ("JENIS KELAMIN", "sex"), ("NO HP", "phone"), ("KECAMATAN", "kecamatan"), ("NAGARI", "nagari"),
    ("JORONG", "jorong"), ("ALAMAT", "address"), ("PEKERJAAN", "category"),
    ("PENGHASILAN PER BULAN", "income"), ("DASAR IURAN", "contribution_base"),
    ("IURAN PER BULAN", "contribution"), ("PROGRAM", "programmes"), ("SUMBER DANA", "funding_source"),
    ("AHLI WARIS", "heir_name"), ("HUBUNGAN AHLI WARIS", "heir_relation"), ("STATUS", "status"),
    ("TGL KEPUTUSAN", "decided_at"), ("NO KPJ", "kpj"), ("TMT KEPESERTAAN", "coverage_start"),
    ("AKHIR KEPESERTAAN", "coverage_end"), ("SUMBER PENDAFTARAN", "source"),
)


class QuotaRules(BaseModel):
    """Workers a nagari pays for per budget year: 100 by the programme, overridable per nagari
    and year here, and by an admin in chat (stored in the database, which wins)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    default: int = Field(default=100, ge=0)
    # nagari code -> budget year -> quota
    overrides: dict[str, dict[int, int]] = Field(default_factory=dict)

    def limit(self, nagari_code: str, year: int) -> int:
        return self.overrides.get(nagari_code, {}).get(year, self.default)


class OfficialsRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    quota: QuotaRules = QuotaRules()
    invitation_expiry_hours: int = Field(default=72, ge=1)
    # An approval can be undone by the official who gave it for this many minutes (a mistap).
    undo_minutes: int = Field(default=10, ge=0, le=120)
    digest_interval_minutes: int = Field(default=15, ge=1)
    # WhatsApp lists show at most 10 rows; one message per registration keeps 3 buttons each.
    queue_page_size: int = Field(default=5, ge=1, le=10)
    history_lines: int = Field(default=10, ge=1, le=50)
    export_dir: Path = Path("var/exports")
    chart_dir: Path = Path("var/charts")
    import_dir: Path = Path("var/imports")
    # Exports (full NIKs) and charts are deleted after this many hours (data minimisation).
    file_retention_hours: int = Field(default=24, ge=1)
    export_columns: tuple[ExportColumn, ...] = DEFAULT_EXPORT_COLUMNS
    # KPJ (participant number) format; BPJS's exact format is unconfirmed: keep it configurable.
    kpj_pattern: str = r"^\d{8,16}$"

    @model_validator(mode="after")
    def _known_columns(self) -> "OfficialsRules":
        unknown = [c.field for c in self.export_columns if c.field not in EXPORT_FIELDS]
        if unknown:
            raise ValueError(f"export_columns: unknown fields {unknown}; known: {list(EXPORT_FIELDS)}")
        re.compile(self.kpj_pattern)
        return self


# ---------------------------------------------------------------------------------------------
# Commands

# Buttons of the desk's next-message prompts: ask (reject or correct?), the common reasons,
# the fields; a typed reason then completes the decision.
DESK_BUTTONS = frozenset({"ask", "rjpick", "rjr", "fxpick", "fxf", "dskno", "apall"})
# Common reasons for a rejection offered as buttons (catalog keys official.reason.N).
REJECT_REASONS = (1, 2, 3, 4)
# One name per form group an official may ask to correct, in the official's language
# (catalog keys summary.*): group -> label key.
FIX_GROUPS = (3, 4, 5, 6, 7, 8, 9, 10)
# Buttons our own messages carry ("off:<command>:<argument>"): Telegram callback data holds at
# most 64 bytes, so only the command and a reference or page number travel.
BUTTON_PREFIX = "off:"
REFERENCE = re.compile(r"^SJ-[A-Z0-9]{6}$")
# Names of the fields an official may ask a worker to correct -> the form group that asks them.
FIX_FIELDS: dict[str, int] = {
    "pekerjaan": 3, "kategori": 3, "work": 3, "category": 3,
    "nama": 4, "name": 4,
    "nik": 5, "tgl_lahir": 5, "tanggal_lahir": 5, "lahir": 5, "birth_date": 5, "birth": 5,
    "nagari": 6,
    "jorong": 7,
    "hp": 8, "telepon": 8, "nomor_hp": 8, "phone": 8,
    "penghasilan": 9, "income": 9,
    "ahli_waris": 10, "waris": 10, "heir": 10,
}
GROUP_LABELS: dict[int, str] = {group: label for label, group in SUMMARY_LINES}
# Assisted registration: the conversation an operator holds on a worker's behalf is stored under
# "assist:<operator's channel user>"; its replies and the worker's notices go to the operator.
ASSIST_PREFIX = "assist:"


def assist_key(operator: str) -> str:
    return ASSIST_PREFIX + operator


def assisted_by(channel_user: str) -> str | None:
    """The operator behind an assisted conversation or registration, else None."""
    return channel_user[len(ASSIST_PREFIX):] if channel_user.startswith(ASSIST_PREFIX) else None


@dataclass(frozen=True)
class Command:
    name: str
    args: tuple[str, ...] = ()
    # Free text after the arguments (a reason), as typed.
    rest: str = ""
    slash: bool = False  # typed with a leading "/": unmistakably a command
    button: bool = False


def parse_command(text: str, words: Mapping[str, frozenset[str]]) -> Command | None:
    """`/tolak SJ-ABC234 data tidak lengkap` -> Command("reject", ("SJ-ABC234",), "data ...");
    `words`: each command's words (handlers/officials/commands.py, the desk's command table)."""
    stripped = text.strip()
    if not stripped:
        return None
    slash = stripped.startswith("/")
    head, _, tail = stripped.lstrip("/").partition(" ")
    # Telegram appends the bot's name in groups: /antrian@SijunjungBot.
    word = normalize_text(head.split("@", 1)[0]).replace(" ", "_")
    name = next((n for n, typed in words.items() if word in typed), None)
    if name is None:
        return None
    args = tuple(tail.split())
    return Command(name, args, tail.strip(), slash)


def parse_button(button_id: str, names: Collection[str]) -> Command | None:
    """A tap on one of our own buttons ("off:<name>:<argument>"); `names`: the commands."""
    if not button_id.startswith(BUTTON_PREFIX):
        return None
    _, name, *args = button_id.split(":", 2)
    if name not in names and name not in DESK_BUTTONS:
        return None
    # "off:<name>:<reference>:<choice>": the choice travels as a second argument.
    parts = tuple(args[0].split(":", 1)) if args else ()
    return Command(name, parts, button=True)


def reference_of(token: str | None) -> str | None:
    """A reference as typed ("sj-abc234", "ABC234") in canonical form, or None."""
    if not token:
        return None
    value = token.strip().upper()
    if not value.startswith("SJ-"):
        value = "SJ-" + value
    return value if REFERENCE.match(value) else None


@dataclass(frozen=True)
class FixRequest:
    reference: str
    groups: tuple[int, ...]
    reason: str


def parse_fix(command: Command) -> FixRequest | None:
    """`/perbaiki REF nama,hp alasan...`: fields until the first word that is not a field name."""
    reference = reference_of(command.args[0] if command.args else None)
    if reference is None:
        return None
    words = command.rest.split()[1:]
    groups: list[int] = []
    used = 0
    for word in words:
        names = [normalize_text(w).replace(" ", "_") for w in word.split(",") if w.strip()]
        if not names or any(n not in FIX_FIELDS for n in names):
            break
        for name in names:
            if FIX_FIELDS[name] not in groups:
                groups.append(FIX_FIELDS[name])
        used += 1
    reason = " ".join(words[used:]).strip()
    if not groups or not reason:
        return None
    return FixRequest(reference, tuple(sorted(groups)), reason)


def reason_of(command: Command) -> str:
    """The free text after the reference (reject reasons)."""
    return " ".join(command.rest.split()[1:]).strip()


# ---------------------------------------------------------------------------------------------
# Rendering

@dataclass(frozen=True)
class Say:
    """Replies in one person's language."""

    catalog: Catalog
    lang: str

    def t(self, key: str, **params: Any) -> str:
        return self.catalog.text(self.lang, key, **params)

    def reply(self, key: str, buttons: tuple[Button, ...] = (), **params: Any) -> Reply:
        return Reply(key, self.t(key, **params), buttons)

    def status(self, status: str) -> str:
        return self.t(f"status.{status}")

    def fields(self, groups: tuple[int, ...] | list[int]) -> str:
        return ", ".join(self.t(GROUP_LABELS[g]) for g in groups if g in GROUP_LABELS)


@dataclass(frozen=True)
class QueueItem:
    reference: str
    name: str
    nagari: str
    category: str
    submitted: str  # local date and time
    flags: tuple[str, ...] = ()


def render_queue(say: Say, items: list[QueueItem], page: int, pages: int, total: int) -> list[Reply]:
    """A header, one message per registration with its actions (at most 3 buttons: WhatsApp's
    limit for reply buttons, titles up to 20 characters), and a button to the next page."""
    if not items:
        return [say.reply("official.queue.empty")]
    replies = [say.reply("official.queue.header", total=total, page=page, pages=pages)]
    for item in items:
        flags = ", ".join(say.t(f"official.flag.{f}") for f in item.flags) or "-"
        buttons = (
            Button(f"off:approve:{item.reference}", say.t("official.btn.approve")),
            Button(f"off:ask:{item.reference}", say.t("official.btn.reject_fix")),
            Button(f"off:show:{item.reference}", say.t("official.btn.show")),
        )
        replies.append(say.reply("official.queue.item", buttons, reference=item.reference, name=item.name,
                                 nagari=item.nagari, category=item.category, submitted=item.submitted,
                                 flags=flags))
    if page < pages:
        replies.append(say.reply("official.queue.more", (Button(f"off:queue:{page + 1}",
                                                                say.t("official.btn.next_page")),),
                                 page=page + 1))
    return replies


@dataclass(frozen=True)
class HistoryLine:
    at: str
    actor: str
    action: str
    note: str = ""


@dataclass(frozen=True)
class DetailView:
    reference: str
    status: str
    nik: str  # masked unless revealed
    revealed: bool
    name: str
    sex: str
    birth_date: str
    birth_date_nik: str
    nagari: str
    kecamatan: str
    jorong: str
    phone: str
    category: str
    income: int
    contribution: int
    heir: str
    channel: str
    submitted: str
    decision: str
    kpj: str
    flags: tuple[str, ...]
    duplicates: tuple[str, ...]  # references sharing this phone
    history: tuple[HistoryLine, ...] = field(default_factory=tuple)
    # Earlier registrations of the same NIK: (reference, status, reason), newest first.
    earlier: tuple[tuple[str, str, str], ...] = ()


def render_history_lines(say: Say, lines: tuple[HistoryLine, ...] | list[HistoryLine]) -> str:
    return "\n".join(say.t("official.history.line", at=h.at, actor=h.actor,
                           action=say.t(f"official.action.{h.action}") if say.catalog.has(
                               f"official.action.{h.action}") else h.action,
                           note=f" ({h.note})" if h.note else "") for h in lines) or "-"


def render_details(say: Say, view: DetailView) -> Reply:
    flags = [say.t(f"official.flag.{f}") if say.catalog.has(f"official.flag.{f}") else f for f in view.flags]
    if view.duplicates:
        flags.append(say.t("official.flag.same_phone", references=", ".join(view.duplicates)))
    for reference, status, reason in view.earlier:
        flags.append(say.t("official.flag.earlier", reference=reference, status=say.status(status),
                           reason=reason or "-"))
    buttons: tuple[Button, ...] = ()
    if view.status in ("pending", "waiting", "correction"):
        buttons = (Button(f"off:approve:{view.reference}", say.t("official.btn.approve")),
                   Button(f"off:ask:{view.reference}", say.t("official.btn.reject_fix")))
    return say.reply(
        "official.details", buttons, reference=view.reference, status=say.status(view.status),
        nik=view.nik, name=view.name, sex=say.t(f"sex.{view.sex}"), birth_date=view.birth_date,
        birth_date_nik=view.birth_date_nik, nagari=view.nagari, kecamatan=view.kecamatan, jorong=view.jorong,
        phone=view.phone, category=view.category, income=rupiah(view.income),
        contribution=rupiah(view.contribution), heir=view.heir, channel=view.channel, submitted=view.submitted,
        decision=view.decision or "-", kpj=view.kpj or "-", flags="\n".join(f"• {f}" for f in flags) or "-",
        history=render_history_lines(say, view.history),
    )


@dataclass(frozen=True)
class QuotaView:
    nagari: str
    year: int
    limit: int
    used: int
    waiting: tuple[str, ...]  # references, in order
    # Of `used`: participants of earlier budget years who continue (carry-over).
    carried: int = 0

    @property
    def free(self) -> int:
        return max(self.limit - self.used, 0)


def render_quota(say: Say, view: QuotaView) -> Reply:
    waiting = ", ".join(view.waiting[:10]) + (" …" if len(view.waiting) > 10 else "") if view.waiting else "-"
    return say.reply("official.quota.view", nagari=view.nagari, year=view.year, limit=view.limit,
                     used=view.used, carried=view.carried, free=view.free, waiting_count=len(view.waiting),
                     waiting=waiting)


def render_help(say: Say, roles: set[str], help_keys: Sequence[str]) -> Reply:
    """The help: the catalog lines `help_keys` (the command table's, for these roles), in order."""
    return say.reply("official.help", roles=", ".join(sorted(roles)),
                     commands="\n".join(say.t(key) for key in help_keys))
