"""After an accident or a death: the claim helper's conversation, pure.

A worker, an heir, or an operator on their behalf says what happened in plain words ("saya
kecelakaan di kebun", "laki ambo maningga", "anak saya mau beasiswa", "klaim jkk"). The helper
finds the worker's registration (their own, or by the NIK or reference the heir types, the NIK
shown masked and confirmed), asks what a report needs (the kind of event, the date, the place
and a short chronology, who the nagari may call) and answers with what to do for that case: the
deadline, where to go, the documents, what the rules provide ("menurut ketentuan", never a
promise). The handler (handlers/claims.py) opens a case, tells the nagari's operator at once and
keeps the family informed.

What it never does: file a claim (the family does, at the branch, helped by the nagari), decide
who the heir is (the regulation's order decides; the branch checks), give medical advice, keep a
photo of a document.

(dialog, event, ctx) -> Outcome(dialog or None, replies, effects), like the registration flow:
the I/O it needs (find the worker, open the case) is asked as effects, whose results come back
as events. Also here: reading what a message is about (`read_intent`, table-driven from
conversations/data/claims.yaml), the case statuses and the words officials type for them, and
the statistics' wording. No I/O except reading the data file once.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Union

import yaml

from conversations.events import Button, ButtonPress, Media, Reply, Text
from conversations.handover import ASK_BUTTON
from conversations.i18n import Catalog, rupiah
from conversations.officials import reference_of
from conversations.understand import fold, means, read_choice
from conversations.validators import (
    InvalidInput,
    contains_nik,
    nik_spans,
    normalize_name,
    normalize_nik,
    normalize_text,
    parse_date,
    parse_phone,
)

DATA_FILE = Path(__file__).resolve().parent.joinpath("data", "claims").with_suffix(".yaml")
# The claim conversation is kept in the conversations table under "claim:<person>", at an idle
# step: never a registration draft to remind about or to count in the funnel.
DIALOG_PREFIX = "claim:"
BUTTON_PREFIX = "cl:"
START_BUTTON = BUTTON_PREFIX + "start"

KINDS = ("work_accident", "road_accident", "death_illness", "death_accident", "scholarship")
# Work-accident insurance (JKK): a work accident, a road accident on the way to or from work, a
# death from either. Reported within 2 x 24 hours; the right to claim lapses after some years.
JKK_KINDS = frozenset({"work_accident", "road_accident", "death_accident"})
DEATHS = frozenset({"death_illness", "death_accident"})
# The kinds offered when the words did not say which.
HINTS: dict[str, tuple[str, ...]] = {
    "any": KINDS,
    "accident": ("work_accident", "road_accident"),
    "death": ("death_illness", "death_accident"),
    "jkk": ("work_accident", "road_accident", "death_accident"),
}
# What each group of claims.yaml means: a kind, or the kinds to ask among.
GROUP_KIND = {"scholarship": "scholarship", "death_accident": "death_accident", "jkm": "death_illness",
              "road": "road_accident", "work": "work_accident"}
GROUP_HINT = {"death": "death", "jkk": "jkk", "accident": "accident", "claim": "any"}

# A case's life at the nagari: reported to the nagari through the bot (new), reported to BPJS,
# documents complete, submitted at the branch, then paid (with the amount) or refused; "closed"
# ends one opened by mistake.
STATUSES = ("new", "reported", "documents", "submitted", "paid", "refused", "closed")
OPEN_STATUSES = ("new", "reported", "documents", "submitted")
NEXT_STATUS = {"new": "reported", "reported": "documents", "documents": "submitted"}
# What officials type after `/kasus K12`, Indonesian and English.
STATUS_WORDS: dict[str, str] = {
    "dilaporkan": "reported", "lapor": "reported", "laporkan": "reported", "reported": "reported",
    "report": "reported", "lengkap": "documents", "dokumen": "documents", "berkas": "documents",
    "complete": "documents", "documents": "documents", "diajukan": "submitted", "ajukan": "submitted",
    "submitted": "submitted", "submit": "submitted", "dibayar": "paid", "bayar": "paid", "cair": "paid",
    "paid": "paid", "ditolak": "refused", "tolak": "refused", "refused": "refused", "rejected": "refused",
    "tutup": "closed", "batal": "closed", "closed": "closed", "close": "closed",
}
# How the heirs used the payout: an optional answer, counted, never shown one by one.
USES = ("school", "business", "debt", "daily", "other")
# A registration a claim may be about: approved by the nagari (enrolment may be under way), or
# enrolled, or ended or withdrawn after the event.
COVERED = ("approved", "enrolled", "ended", "withdrawn", "deletion_requested")
CANCEL_WORDS = frozenset({"batal", "batalkan", "cancel", "tidak jadi", "gak jadi", "ndak jadi", "indak jadi"})
PLACE_MAX = 200
# An event more than this long ago is a mistyped year (the claim right itself lapses sooner).
OLDEST_EVENT_YEARS = 10


# ---------------------------------------------------------------------------------------------
# What a message is about

@dataclass(frozen=True)
class ClaimIntent:
    kind: str | None = None  # the kind the words name
    hint: str = "any"  # HINTS key: the kinds to ask among when `kind` is None
    about_self: bool = False  # "saya jatuh dari pohon": the writer is the worker
    info: bool = False  # a question about the rules, not an event ("kalau saya meninggal ...")


@dataclass(frozen=True)
class _Phrase:
    """Words that must all be in a message; "jatuh*" stands for any word starting "jatuh"."""

    words: tuple[str, ...]
    # The whole words (one set comparison rules most phrases out), and the starts of words.
    exact: frozenset[str] = field(init=False, repr=False, compare=False)
    starts: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "exact", frozenset(w for w in self.words if not w.endswith("*")))
        object.__setattr__(self, "starts", tuple(w[:-1] for w in self.words if w.endswith("*")))

    def found_in(self, words: set[str]) -> bool:
        return self.exact <= words and all(any(w.startswith(start) for w in words) for start in self.starts)


@dataclass(frozen=True)
class ClaimVocabulary:
    words: dict[str, str]
    family: frozenset[str]
    conditional: frozenset[str]
    question: frozenset[str]
    groups: tuple[tuple[str, tuple[_Phrase, ...]], ...]


@lru_cache(maxsize=1)
def vocabulary() -> ClaimVocabulary:
    raw = yaml.safe_load(DATA_FILE.read_text(encoding="utf-8"))
    words = {normalize_text(str(k)): normalize_text(str(v)) for k, v in raw["words"].items()}

    def folded(text: str) -> list[str]:
        return [words.get(w, w) for w in fold(text).split()]

    groups = []
    for name, phrases in raw["groups"].items():
        if name not in GROUP_KIND and name not in GROUP_HINT:
            raise ValueError(f"{DATA_FILE.name}: unknown group {name!r}")
        groups.append((str(name), tuple(_Phrase(tuple(w for p in phrase for w in (
            [str(p)] if str(p).endswith("*") else folded(str(p))))) for phrase in phrases)))
    return ClaimVocabulary(
        words=words,
        family=frozenset(w for item in raw["family"] for w in folded(str(item))),
        conditional=frozenset(w for item in raw["conditional"] for w in folded(str(item))),
        question=frozenset(w for item in raw["question"] for w in folded(str(item))),
        groups=tuple(groups),
    )


def claim_words(text: str) -> list[str]:
    """The message's words as the helper compares them: folded, then its own vocabulary."""
    vocab = vocabulary()
    return [vocab.words.get(w, w) for w in fold(text).split()]


def read_intent(text: str) -> ClaimIntent | None:
    """What an accident or a death message is about, or None when it is about neither."""
    words = claim_words(text)
    if not words:
        return None
    present = set(words)
    vocab = vocabulary()
    group = next((name for name, phrases in vocab.groups if any(p.found_in(present) for p in phrases)), None)
    if group is None:
        return None
    kind = GROUP_KIND.get(group)
    hint = GROUP_HINT.get(group, "any")
    conditional = bool(present & vocab.conditional)
    # "bagaimana cara klaim?": a question that names no event is about the rules.
    question = words[0] in vocab.question and kind is None and hint == "any"
    about_self = "saya" in present and not present & vocab.family and kind not in DEATHS and kind != "scholarship" \
        and hint != "death"
    return ClaimIntent(kind=kind, hint=hint, about_self=about_self, info=conditional or question)


def is_cancel(text: str) -> bool:
    return normalize_text(text.lstrip("/")) in CANCEL_WORDS


def status_of_word(word: str) -> str | None:
    return STATUS_WORDS.get(normalize_text(word))


# ---------------------------------------------------------------------------------------------
# Dates: "hari ini", "kemarin", "3 hari lalu", "3 des", "03-12-2026"

_AGO = re.compile(r"^(\d{1,2}|se|satu|dua|tiga|empat|lima|enam|tujuh)\s*(hari|days?)\s*(yang\s*)?(lalu|ago|nan\s*lalu)$")
_SMALL = {"se": 1, "satu": 1, "dua": 2, "tiga": 3, "empat": 4, "lima": 5, "enam": 6, "tujuh": 7}
_RELATIVE = {"hari ini": 0, "tadi": 0, "tadi pagi": 0, "tadi siang": 0, "tadi sore": 0, "barusan": 0,
             "today": 0, "this morning": 0, "kini": 0, "kemarin": 1, "kemaren": 1, "semalam": 1,
             "tadi malam": 1, "yesterday": 1, "last night": 1, "patang": 1, "kapatang": 1,
             "kemarin lusa": 2, "2 hari lalu": 2, "salamo ko": 0}


def parse_event_date(text: str, today: date) -> date:
    """The day an event happened. Raises InvalidInput: date.invalid, claims.date.future,
    claims.date.too_old."""
    folded = normalize_text(text)
    folded = re.sub(r"^(tanggal|tgl|pada|on)\s+", "", folded)
    if folded in _RELATIVE:
        day = today - timedelta(days=_RELATIVE[folded])
    elif (ago := _AGO.match(folded)) is not None:
        count = ago.group(1)
        day = today - timedelta(days=int(count) if count.isdigit() else _SMALL[count])
    else:
        parts = folded.replace("-", " ").replace("/", " ").replace(".", " ").split()
        if len(parts) == 2:
            # "3 des", "03/12": this year's, or last year's when that would be in the future.
            try:
                day = parse_date(f"{parts[0]} {parts[1]} {today.year}", today)
            except InvalidInput as problem:
                if problem.key != "date.future":
                    raise
                day = parse_date(f"{parts[0]} {parts[1]} {today.year - 1}", today)
        else:
            try:
                day = parse_date(folded, today)
            except InvalidInput as problem:
                if problem.key == "date.future":
                    raise InvalidInput("claims.date.future") from None
                raise
    if day > today:
        raise InvalidInput("claims.date.future")
    if (today - day).days > 366 * OLDEST_EVENT_YEARS:
        raise InvalidInput("claims.date.too_old")
    return day


# ---------------------------------------------------------------------------------------------
# The conversation

STEPS = ("whose", "identify", "confirm", "kind", "date", "place", "story", "name", "phone")


@dataclass
class Dialog:
    """One claim conversation in progress (stored encrypted: it holds a chronology)."""

    step: str = "whose"  # whose | identify | confirm | kind | date | place | story | name | phone
    kind: str | None = None
    hint: str = "any"
    own: bool = False  # about the writer's own registration
    official: bool = False  # an official reports for a family
    registration_id: int | None = None
    masked: str = ""  # the found worker's NIK, masked
    nagari: str = ""
    status: str = ""
    tries: int = 0  # identifiers that found nobody (or were not the one meant)
    failures: int = 0  # unreadable answers at the current step
    event_date: str | None = None
    place: str | None = None
    story: str | None = None
    name: str | None = None
    phone: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "Dialog":
        """A stored dialog; anything unreadable is a fresh one (never a crash)."""
        if not isinstance(data, dict):
            return cls()
        fresh = cls()
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            value, default = data.get(spec.name), getattr(fresh, spec.name)
            if isinstance(default, bool):
                values[spec.name] = value if isinstance(value, bool) else default
            elif isinstance(default, int):
                values[spec.name] = value if isinstance(value, int) and not isinstance(value, bool) else default
            elif spec.name == "registration_id":
                values[spec.name] = value if isinstance(value, int) and not isinstance(value, bool) else None
            else:
                values[spec.name] = value if isinstance(value, str) or (value is None and default is None) else default
        if values["step"] not in STEPS or (values["kind"] is not None and values["kind"] not in KINDS) \
                or values["hint"] not in HINTS:
            return fresh
        return cls(**values)


@dataclass(frozen=True)
class ClaimCtx:
    catalog: Catalog
    lang: str
    today: date
    max_failures: int
    max_chars: int
    # The facts the answers cite (handlers/claims_cases.facts_params: branch, call centre,
    # PLKKs, amounts, deadlines, each from config.yaml `claims:`).
    facts: Mapping[str, Any]
    contact: str  # the help contact of the nagari
    known_phone: str | None = None  # the writer's own number, where the channel gives it

    def t(self, key: str, **params: Any) -> str:
        return self.catalog.text(self.lang, key, **{**self.facts, **params})


# Effects and their results
@dataclass(frozen=True)
class FindWorker:
    """Look up the registration: "own" (the writer's latest), "nik" or "reference"."""

    by: str
    value: str = ""


@dataclass(frozen=True)
class WorkerFound:
    registration_id: int | None
    masked: str = ""
    nagari: str = ""
    status: str = ""


@dataclass(frozen=True)
class OpenCase:
    dialog: Dialog


@dataclass(frozen=True)
class CaseOpened:
    code: str
    nagari: str
    deadline: str | None  # the day the 2 x 24-hour report is due (JKK kinds)
    status: str  # of the registration
    notified: bool  # an official of the nagari (or the regency) was told


ClaimEffect = Union[FindWorker, OpenCase]
ClaimEvent = Union[Text, ButtonPress, Media, WorkerFound, CaseOpened]


@dataclass
class Outcome:
    dialog: Dialog | None  # None: the conversation is over (its row is deleted)
    replies: list[Reply] = field(default_factory=list)
    effects: list[ClaimEffect] = field(default_factory=list)


def info(ctx: ClaimCtx) -> Outcome:
    """What the programme provides and how to claim, for a question about the rules."""
    return Outcome(None, [Reply("claims.info", ctx.t("claims.info"),
                                (Button(START_BUTTON, ctx.t("btn.claim.start")),))])


def start(intent: ClaimIntent, ctx: ClaimCtx, *, has_own: bool, official: bool) -> Outcome:
    """The first answer to a message about an accident or a death."""
    if intent.info:
        return info(ctx)
    dialog = Dialog(kind=intent.kind, hint=intent.hint, official=official)
    out = Outcome(dialog, [Reply("claims.start", ctx.t("claims.start.official" if official else "claims.start"))])
    if official or not has_own or intent.kind in DEATHS or intent.kind == "scholarship" or intent.hint == "death":
        _ask(out, ctx, "identify")
    elif intent.about_self:
        dialog.own = True
        out.effects.append(FindWorker("own"))
    else:
        _ask(out, ctx, "whose")
    return out


def handle(dialog: Dialog, event: ClaimEvent, ctx: ClaimCtx) -> Outcome:
    """The next step of a claim conversation. Never raises for any input."""
    dialog = Dialog.from_json(dialog.to_json())  # the caller's stays as it was
    out = Outcome(dialog)
    if isinstance(event, WorkerFound):
        return _found(out, ctx, event)
    if isinstance(event, CaseOpened):
        return _opened(out, ctx, event)
    if isinstance(event, Media):
        # A photo of a document is never kept: the originals go to the branch.
        out.replies.append(Reply("claims.no_photos", ctx.t("claims.no_photos")))
        _ask(out, ctx, dialog.step)
        return out
    if isinstance(event, ButtonPress):
        return _button(out, ctx, event.button_id)
    if not isinstance(event, Text):
        return out
    text = event.text.strip()
    if is_cancel(text):
        return Outcome(None, [Reply("claims.cancelled", ctx.t("claims.cancelled"))])
    if len(text) > ctx.max_chars:
        out.replies.append(Reply("input.too_long", ctx.t("input.too_long", max=ctx.max_chars)))
        _ask(out, ctx, dialog.step)
        return out
    return _answer(out, ctx, text)


def _button(out: Outcome, ctx: ClaimCtx, button_id: str) -> Outcome:
    dialog = out.dialog
    assert dialog is not None
    if dialog.step == "whose" and button_id in (BUTTON_PREFIX + "self", BUTTON_PREFIX + "other"):
        return _whose(out, ctx, button_id == BUTTON_PREFIX + "self")
    if dialog.step == "confirm" and button_id in (BUTTON_PREFIX + "yes", BUTTON_PREFIX + "no"):
        return _confirm(out, ctx, button_id == BUTTON_PREFIX + "yes")
    if dialog.step == "kind" and button_id.startswith(BUTTON_PREFIX + "kind:"):
        kind = button_id.rsplit(":", 1)[-1]
        if kind in KINDS:
            dialog.kind = kind
            return _after(out, ctx, "kind")
    # A button of an earlier message: the question again.
    _ask(out, ctx, dialog.step)
    return out


def _answer(out: Outcome, ctx: ClaimCtx, text: str) -> Outcome:
    dialog = out.dialog
    assert dialog is not None
    step = dialog.step
    try:
        if step == "whose":
            reading = read_choice(text, _buttons(ctx, dialog, "whose"), numbers_shown=True)
            if reading is not None and reading.sure:
                return _whose(out, ctx, reading.button.id == BUTTON_PREFIX + "self")
        elif step == "identify":
            found = identifier_of(text)
            if found is not None:
                out.effects.append(FindWorker(*found))
                return out
            raise InvalidInput("claims.identify.invalid")
        elif step == "confirm":
            if means(text, "yes"):
                return _confirm(out, ctx, True)
            if means(text, "no"):
                return _confirm(out, ctx, False)
        elif step == "kind":
            reading = read_choice(text, _buttons(ctx, dialog, "kind"), numbers_shown=True)
            intent = read_intent(text)
            if reading is not None and reading.sure:
                dialog.kind = reading.button.id.rsplit(":", 1)[-1]
            elif intent is not None and intent.kind in HINTS[dialog.hint]:
                dialog.kind = intent.kind
            if dialog.kind is not None:
                return _after(out, ctx, "kind")
        elif step == "date":
            dialog.event_date = parse_event_date(text, ctx.today).isoformat()
            return _after(out, ctx, "date")
        elif step in ("place", "story"):
            if contains_nik(text):
                raise InvalidInput("claims.no_nik")
            if step == "place":
                dialog.place = text[:PLACE_MAX]
            else:
                dialog.story = text
            return _after(out, ctx, step)
        elif step == "name":
            dialog.name = normalize_name(text)
            return _after(out, ctx, "name")
        elif step == "phone":
            dialog.phone = parse_phone(text)
            return _after(out, ctx, "phone")
    except InvalidInput as problem:
        out.replies.append(Reply(problem.key, ctx.t(problem.key, **problem.params)))
    return _failed(out, ctx)


def _failed(out: Outcome, ctx: ClaimCtx) -> Outcome:
    """An answer the step could not read: the question again; after a few, a person to ask."""
    dialog = out.dialog
    assert dialog is not None
    dialog.failures += 1
    if dialog.failures >= ctx.max_failures:
        dialog.failures = 0
        out.replies.append(Reply("claims.stuck", ctx.t("claims.stuck", contact=ctx.contact),
                                 (Button(ASK_BUTTON, ctx.t("btn.claim.person")),)))
    _ask(out, ctx, dialog.step)
    return out


def _whose(out: Outcome, ctx: ClaimCtx, own: bool) -> Outcome:
    dialog = out.dialog
    assert dialog is not None
    dialog.own = own
    if own:
        out.effects.append(FindWorker("own"))
    else:
        _ask(out, ctx, "identify")
    return out


def _confirm(out: Outcome, ctx: ClaimCtx, yes: bool) -> Outcome:
    dialog = out.dialog
    assert dialog is not None
    if yes:
        return _after(out, ctx, "confirm")
    dialog.registration_id = None
    dialog.tries += 1
    if dialog.tries >= ctx.max_failures:
        return Outcome(None, [Reply("claims.not_found_limit", ctx.t("claims.not_found_limit", contact=ctx.contact))])
    _ask(out, ctx, "identify")
    return out


def _found(out: Outcome, ctx: ClaimCtx, found: WorkerFound) -> Outcome:
    dialog = out.dialog
    assert dialog is not None
    if found.registration_id is None:
        if dialog.own:
            # No registration of their own that a claim can be about: maybe a family member's.
            dialog.own = False
            out.replies.append(Reply("claims.own_not_found", ctx.t("claims.own_not_found")))
            _ask(out, ctx, "identify")
            return out
        dialog.tries += 1
        if dialog.tries >= ctx.max_failures:
            return Outcome(None, [Reply("claims.not_found_limit",
                                        ctx.t("claims.not_found_limit", contact=ctx.contact))])
        out.replies.append(Reply("claims.not_found", ctx.t("claims.not_found")))
        _ask(out, ctx, "identify")
        return out
    if found.status not in COVERED:
        return Outcome(None, [Reply("claims.not_covered", ctx.t(
            "claims.not_covered", status=ctx.t(f"status.{found.status}"), contact=ctx.contact))])
    dialog.registration_id, dialog.masked, dialog.nagari, dialog.status = (
        found.registration_id, found.masked, found.nagari, found.status)
    if dialog.own:
        return _after(out, ctx, "confirm")
    _ask(out, ctx, "confirm")
    return out


def _after(out: Outcome, ctx: ClaimCtx, step: str) -> Outcome:
    """The question that follows `step`, or the case opened when nothing is missing."""
    dialog = out.dialog
    assert dialog is not None
    dialog.failures = 0
    order = ("confirm", "kind", "date", "place", "story", "name", "phone")
    for candidate in order[order.index(step) + 1:]:
        if _needed(dialog, ctx, candidate):
            _ask(out, ctx, candidate)
            return out
    out.effects.append(OpenCase(dialog))
    return out


def _needed(dialog: Dialog, ctx: ClaimCtx, step: str) -> bool:
    if step == "kind":
        return dialog.kind is None
    if step == "date":
        return dialog.event_date is None
    if step in ("place", "story"):
        return dialog.kind in JKK_KINDS and getattr(dialog, step) is None
    if step == "name":
        return not dialog.own and dialog.name is None
    if step == "phone":
        if dialog.own or dialog.phone is not None:
            return False
        if not dialog.official and ctx.known_phone:
            dialog.phone = ctx.known_phone
            return False
        return True
    return False


def _buttons(ctx: ClaimCtx, dialog: Dialog, step: str) -> tuple[Button, ...]:
    if step == "whose":
        return (Button(BUTTON_PREFIX + "self", ctx.t("btn.claim.self")),
                Button(BUTTON_PREFIX + "other", ctx.t("btn.claim.other")))
    if step == "confirm":
        return (Button(BUTTON_PREFIX + "yes", ctx.t("btn.claim.yes")),
                Button(BUTTON_PREFIX + "no", ctx.t("btn.claim.no")))
    if step == "kind":
        return tuple(Button(f"{BUTTON_PREFIX}kind:{kind}", ctx.t(f"btn.claim.kind.{kind}"))
                     for kind in HINTS.get(dialog.hint, KINDS))
    return ()


def _ask(out: Outcome, ctx: ClaimCtx, step: str) -> None:
    dialog = out.dialog
    assert dialog is not None
    dialog.step = step
    key = {
        "whose": "claims.ask.whose",
        "identify": "claims.ask.identify_official" if dialog.official else "claims.ask.identify",
        "confirm": "claims.ask.confirm",
        "kind": "claims.ask.kind",
        "date": "claims.ask.date_death" if dialog.kind in DEATHS or dialog.kind == "scholarship"
        else "claims.ask.date",
        "place": "claims.ask.place",
        "story": "claims.ask.story",
        "name": "claims.ask.name_official" if dialog.official else "claims.ask.name",
        "phone": "claims.ask.phone_official" if dialog.official else "claims.ask.phone",
    }.get(step, "claims.ask.identify")
    out.replies.append(Reply(key, ctx.t(key, masked=dialog.masked, nagari=dialog.nagari),
                             _buttons(ctx, dialog, step)))


def _opened(out: Outcome, ctx: ClaimCtx, opened: CaseOpened) -> Outcome:
    dialog = out.dialog
    assert dialog is not None and dialog.kind is not None
    params = {"code": opened.code, "nagari": opened.nagari, "deadline": opened.deadline or "-"}
    told = "claims.opened" if opened.notified else "claims.opened_unstaffed"
    replies = [Reply(told, ctx.t(told, **params))]
    replies.append(Reply(f"claims.checklist.{dialog.kind}", ctx.t(f"claims.checklist.{dialog.kind}", **params)))
    if opened.status == "approved":
        replies.append(Reply("claims.note.not_enrolled", ctx.t("claims.note.not_enrolled")))
    replies.append(Reply("claims.never", ctx.t("claims.never")))
    return Outcome(None, replies)


def identifier_of(text: str) -> tuple[str, str] | None:
    """("reference", "SJ-ABC234") or ("nik", "1303...") from what an heir typed, else None. A
    reference counts with its "SJ-", or alone as the whole message ("7K4M9Q"): a six-letter
    word in a sentence is not one."""
    stripped = text.strip()
    prefixed = re.search(r"(?i)(?<![a-z0-9])sj\s*-?\s*([a-z0-9]{6})(?![a-z0-9])", stripped)
    # Alone, six letters without a digit are a word ("niknya") unless typed in capitals.
    alone = re.fullmatch(r"[A-Za-z0-9]{6}", stripped) and (any(ch.isdigit() for ch in stripped) or stripped.isupper())
    for token in (prefixed.group(1) if prefixed else None, stripped if alone else None):
        reference = reference_of(token)
        if reference is not None:
            return ("reference", reference)
    for start, end in nik_spans(stripped):
        digits = normalize_nik(stripped[start:end])
        if re.fullmatch(r"\d{16}", digits):
            return ("nik", digits)
    return None


# ---------------------------------------------------------------------------------------------
# The regency's view: statistics

@dataclass(frozen=True)
class ClaimStats:
    by_kind: dict[str, int]
    by_status: dict[str, int]
    # nagari name -> (cases, open, paid)
    by_nagari: Sequence[tuple[str, int, int, int]]
    paid: int
    paid_total: int
    median_days: float | None  # from the event to the payment
    usage: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


def render_stats(t: Any, stats: ClaimStats, max_lines: int = 20) -> str:
    """The claims section of /statistik (`t`: the reader's catalog lookup)."""
    if not stats.total:
        return t("claims.stats.none")
    kinds = ", ".join(f"{t(f'claims.kind.{k}')} {n}" for k, n in stats.by_kind.items() if n)
    statuses = ", ".join(f"{t(f'claims.status.{s}')} {stats.by_status[s]}" for s in STATUSES
                         if stats.by_status.get(s))
    nagari = "\n".join(t("claims.stats.nagari_line", nagari=name, total=total, open=open_, paid=paid)
                       for name, total, open_, paid in stats.by_nagari[:max_lines])
    days = (t("claims.stats.days", days=f"{stats.median_days:.0f}") if stats.median_days is not None
            else t("claims.stats.days_none"))
    answered = sum(stats.usage.values())
    usage = (", ".join(f"{t(f'claims.use.{u}')} {stats.usage[u]}" for u in USES if stats.usage.get(u))
             if answered else t("claims.stats.usage_none"))
    return t("claims.stats", total=stats.total, kinds=kinds or "-", statuses=statuses or "-", nagari=nagari or "-",
             paid=stats.paid, amount=rupiah(stats.paid_total), days=days, usage=usage, answered=answered)
