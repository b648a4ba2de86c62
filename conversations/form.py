"""The registration form, declared as data: ordered fields with prompt, input kind, choices,
validator and when-condition (in the manner of RapidPro flows), and the validators they use.

The engine (conversations/registration.py) walks these fields; it holds no field-specific logic
except what a field declares here. The state graph is drawn in conversations/registration.mmd.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Literal

from conversations.events import Button, CheckNik, ContactShared, Effect
from conversations.i18n import Catalog, rupiah
from conversations.rules import FlowRules
from conversations.state import State
from conversations.understand import (
    Amount,
    amount_text,
    harvest_amount,
    income_uncertain,
    only_relation,
    read_amount,
    read_choice,
    relation_prefix,
    relation_suffix,
    strip_titles,
)
from conversations.validators import (
    InvalidInput,
    age_on,
    format_phone,
    normalize_name,
    parse_date,
    parse_income,
    parse_nik,
    parse_phone,
    normalize_text,
)
from conversations.wilayah import Nagari, Wilayah

# Steps shown as "Langkah N dari TOTAL_STEPS" (each question that moves the person on is a step;
# a question asked only after another, such as the birth date after "is this date right?", shares
# its step); the summary is the last. Groups (Field.group) are the units edited from the summary.
TOTAL_STEPS = 13
SUMMARY_STEP = 13
MIN_INCOME = 10_000
SUMMARY_GROUP = 11
# A bare number typed as a monthly income ("2", "800") is read as millions up to this, as
# thousands from 100 to 999, and confirmed with the person either way.
BARE_MILLIONS_MAX = 20


@dataclass(frozen=True)
class Ctx:
    """What the flow may know about the world for one event; built by the handler."""

    rules: FlowRules
    catalog: Catalog
    wilayah: Wilayah
    now: datetime  # timezone-aware, from the injected clock
    channel_user: str
    # The sender's own number when the platform gives it (WhatsApp wa_id), offered for confirmation.
    known_phone: str | None = None

    @property
    def today(self) -> date:
        return self.now.date()

    def t(self, lang: str | None, key: str, **params: Any) -> str:
        return self.catalog.text(lang or self.rules.default_language, key, **params)


@dataclass(frozen=True)
class Answer:
    """One input for a field: a button (tapped, or matched from typed text), text, or a contact."""

    text: str | None = None
    button: Button | None = None
    contact: ContactShared | None = None
    # The text as typed, before the field's prefix words were removed ("nama saya ...").
    raw: str | None = None

    @property
    def choice(self) -> str | None:
        return self.button.id.split(":", 1)[1] if self.button and ":" in self.button.id else None


@dataclass(frozen=True)
class Accepted:
    """A field's verdict on valid input."""

    values: dict[str, Any] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    # Extra messages (catalog key, params) sent before the next question.
    notes: tuple[tuple[str, dict[str, Any]], ...] = ()
    # I/O that must answer before the values are kept (the engine waits for its result).
    check: Effect | None = None
    # The person cannot continue: the catalog key that explains why and what to do instead.
    stop: tuple[str, dict[str, Any]] | None = None
    # Stay on this field with narrowed choices (e.g. a kecamatan was picked, now pick the nagari).
    again: dict[str, Any] | None = None
    # Not sure what was meant: ask "Maksud Anda *label*?"; yes validates `text` instead.
    guess: tuple[str, str] | None = None  # (text to validate on yes, label shown)
    # A line put before the next question (catalog key, params): "Nagari Muaro, Kec. Sijunjung."
    preface: tuple[str, dict[str, Any]] | None = None


Validator = Callable[[Answer, Ctx, State], Accepted]
Choices = Callable[[Ctx, State], list[Button]]


@dataclass(frozen=True)
class Field:
    key: str
    group: int  # the progress step ("Langkah N"), and the unit edited from the summary
    prompt: str | Callable[[Ctx, State], str]  # catalog key (or chosen from the context and state)
    kind: Literal["choice", "text"]  # "choice": only a button answers; "text": typed text too
    validate: Validator
    choices: Choices | None = None
    when: Callable[[dict[str, Any]], bool] = lambda answers: True
    example: str | None = None  # catalog key of an example shown with errors
    params: Callable[[Ctx, State], dict[str, Any]] | None = None
    request_contact: bool = False
    # Typed words are matched only against buttons whose id starts with one of these (numbers
    # always pick any button); None: against every button. The nagari step sends other words
    # to its own matcher, which knows that "Sijunjung" is both a kecamatan and a nagari.
    typed_match: tuple[str, ...] | None = None
    # The progress step shown ("Langkah N"); 0: the field's group.
    step: int = 0
    # The choices are listed with numbers in the question's text, so a typed number picks one.
    numbered: bool = False
    # Kind of prefix words people put before this answer (understanding.yaml `prefixes`).
    prefix: str | None = None
    # Free text that is stored as typed: a NIK-shaped number in it is refused, never kept.
    free_text: bool = False
    # Catalog key answering a typed "no" at a text step with buttons (e.g. "not this number").
    on_no: str | None = None

    @property
    def progress(self) -> int:
        return self.step or self.group

    def prompt_key(self, ctx: Ctx, state: State) -> str:
        return self.prompt(ctx, state) if callable(self.prompt) else self.prompt


# ---------------------------------------------------------------------------------------------
# Choices
def _buttons(ctx: Ctx, state: State, prefix: str, keys: list[str]) -> list[Button]:
    return [Button(f"{prefix}:{k}", ctx.t(state.lang, f"btn.{prefix}.{k}")) for k in keys]


def yes_no(prefix: str) -> Choices:
    return lambda ctx, state: _buttons(ctx, state, prefix, ["yes", "no"])


def category_choices(ctx: Ctx, state: State) -> list[Button]:
    return [Button(f"cat:{c.id}", c.title(state.lang or "id")) for c in ctx.rules.categories]


def suggested_nagari(ctx: Ctx, state: State) -> Nagari | None:
    """The nagari of the link the person came through (State.link), offered at the nagari
    question as "is it this one?" until they pick a kecamatan, are offered candidates or say it
    is not theirs; None without a link. A "no" falls back to the usual questions."""
    link = state.link
    if not link or any(state.pending.get(k) for k in ("kec", "options", "declined")):
        return None
    return ctx.wilayah.by_code(str(link.get("nagari", "")))


def nagari_choices(ctx: Ctx, state: State) -> list[Button]:
    if suggested_nagari(ctx, state) is not None:
        return _buttons(ctx, state, "link", ["yes", "no"])
    options = state.pending.get("options")
    kec = state.pending.get("kec")
    if options:
        buttons = [Button(f"nag:{code}", _nagari_title(ctx, code)) for code in options]
        if kec:
            name = next(k.name for k in ctx.wilayah.kecamatan if k.code == kec)
            buttons.append(Button(f"kec:{kec}", ctx.t(state.lang, "btn.nagari.other_in", kecamatan=name)))
        return buttons
    if kec:
        return [Button(f"nag:{n.code}", n.name) for n in ctx.wilayah.nagari_in(kec)]
    return [Button(f"kec:{k.code}", k.name) for k in ctx.wilayah.kecamatan]


def _nagari_title(ctx: Ctx, code: str) -> str:
    nagari = ctx.wilayah.by_code(code)
    return nagari.name if nagari else code


def phone_choices(ctx: Ctx, state: State) -> list[Button]:
    if ctx.known_phone:
        return [Button("phone:known", ctx.t(state.lang, "btn.phone.known"))]
    return []


def income_choices(ctx: Ctx, state: State) -> list[Button]:
    if state.pending.get("type_amount"):
        return []
    amounts = ctx.rules.income_choices
    buttons = []
    for i, amount in enumerate(amounts):
        if i == 0:
            title = ctx.t(state.lang, "btn.income.upto", upper=short_rupiah(amount, ctx, state.lang))
        else:
            title = ctx.t(
                state.lang,
                "btn.income.range",
                lower=short_rupiah(amounts[i - 1], ctx, state.lang),
                upper=short_rupiah(amount, ctx, state.lang),
            )
        buttons.append(Button(f"inc:{amount}", title))
    buttons.append(Button("inc:more", ctx.t(state.lang, "btn.income.more", lower=short_rupiah(amounts[-1], ctx, state.lang))))
    return buttons


def heir_name_choices(ctx: Ctx, state: State) -> list[Button]:
    return _buttons(ctx, state, "heir", ["skip"])


HEIR_RELATIONS = ["suami_istri", "anak", "orang_tua", "saudara"]


def heir_relation_choices(ctx: Ctx, state: State) -> list[Button]:
    return _buttons(ctx, state, "rel", HEIR_RELATIONS)


def short_rupiah(amount: int, ctx: Ctx, lang: str | None) -> str:
    """1000000 -> "1 juta" / "1M", 1500000 -> "1,5 juta" / "1.5M": income button titles must fit
    WhatsApp's 20 characters ("1,5 juta–2 juta"), so the unit words are short, from the catalog."""
    millions = amount / 1_000_000
    if millions >= 1:
        number = f"{millions:g}" if lang == "en" else f"{millions:g}".replace(".", ",")
        return ctx.t(lang, "money.million", n=number)
    return ctx.t(lang, "money.thousand", n=amount // 1000)


def format_date(day: date, ctx: Ctx, lang: str | None) -> str:
    return f"{day.day} {ctx.t(lang, f'month.{day.month}')} {day.year}"


# ---------------------------------------------------------------------------------------------
# Validators
def _yes(answer: Answer) -> bool:
    return answer.choice == "yes"


def v_consent(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if _yes(answer):
        return Accepted({"consent": True})
    return Accepted(stop=("consent.declined", {}))


def v_domicile(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if _yes(answer):
        return Accepted({"elig_domicile": True})
    return Accepted(stop=("elig.not_domicile", {"bpjs": ctx.rules.help.bpjs_branch}))


def v_member(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.choice == "yes":
        return Accepted(stop=("elig.already_member", {"bpjs": ctx.rules.help.bpjs_branch}))
    if answer.choice == "unknown":
        return Accepted({"elig_member": "unknown"}, flags=("membership_unknown",))
    return Accepted({"elig_member": "no"})


def v_work(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.choice == "employee":
        return Accepted(stop=("elig.employee", {"bpjs": ctx.rules.help.bpjs_branch}))
    return Accepted({"elig_work": "own"})


def v_category(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    return Accepted({"category": answer.choice})


def v_category_other(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    text = " ".join((answer.text or "").split())
    if not 3 <= len(text) <= 60 or not any(ch.isalpha() for ch in text):
        raise InvalidInput("category_other.invalid", min=3, max=60)
    return Accepted({"category_other": text})


def v_name(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    # "Bapak Ahmad Yani", "Buya Hamka", "H. Ahmad": a title is how people are addressed, not the
    # name on the KTP that BPJS matches.
    name = strip_titles(answer.text or "")
    if not name and (answer.text or "").strip():
        raise InvalidInput("name.title_only")
    return Accepted({"name": normalize_name(name)})


def v_nik(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    info = parse_nik(
        answer.text or "",
        today=ctx.today,
        home_prefix=ctx.rules.nik_prefix,
        plausible_age=(ctx.rules.age.min, ctx.rules.age.max),
    )
    flags = ("nik_outside_regency",) if info.outside_home else ()
    values = {"nik": info.nik, "sex": info.sex, "birth_date_nik": info.birth_date.isoformat()}
    return Accepted(values, flags=flags, check=CheckNik(info.nik))


def _age_check(birth: date, ctx: Ctx) -> tuple[str, dict[str, Any]] | None:
    age = age_on(birth, ctx.today)
    limits = ctx.rules.age
    if age < limits.min or age > limits.max:
        return ("age.out_of_range", {"age": age, "min": limits.min, "max": limits.max})
    return None


def v_birth_confirm(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if not _yes(answer):
        return Accepted({"birth_confirm": "no"})
    birth = date.fromisoformat(state.answers["birth_date_nik"])
    stop = _age_check(birth, ctx)
    if stop:
        return Accepted(stop=stop)
    return Accepted({"birth_confirm": "yes", "birth_date": birth.isoformat()})


def v_birth_date(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    birth = parse_date(answer.text or "", ctx.today)
    stop = _age_check(birth, ctx)
    if stop:
        return Accepted(stop=stop)
    flags = ("birth_date_mismatch",) if birth.isoformat() != state.answers.get("birth_date_nik") else ()
    return Accepted({"birth_date": birth.isoformat()}, flags=flags)


def v_nagari(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.button and answer.button.id.startswith("link:"):
        suggested = suggested_nagari(ctx, state)
        if answer.choice == "yes" and suggested is not None:
            return _nagari_chosen(suggested.code, ctx)
        return Accepted(again={"declined": True})
    if answer.button and answer.button.id.startswith("kec:"):
        return Accepted(again={"kec": answer.choice})
    if answer.button and answer.button.id.startswith("nag:"):
        return _nagari_chosen(answer.choice or "", ctx)
    match = ctx.wilayah.match(answer.text or "")
    if match.nagari is not None:
        chosen = _nagari_chosen(match.nagari.code, ctx)
        if normalize_text(answer.text or "") != normalize_text(match.nagari.name):
            # Read from a spelling, a typo or "Muaro, Sijunjung": say which nagari we took.
            return Accepted(chosen.values, preface=("nagari.named", {
                "nagari": match.nagari.name, "kecamatan": match.nagari.kecamatan.name}))
        return chosen
    if match.candidates:
        kec = match.kecamatan.code if match.kecamatan else None
        return Accepted(again={"options": [n.code for n in match.candidates], "kec": kec})
    if match.kecamatan is not None:
        return Accepted(again={"kec": match.kecamatan.code})
    raise InvalidInput("nagari.unknown")


def _nagari_chosen(code: str, ctx: Ctx) -> Accepted:
    nagari = ctx.wilayah.by_code(code)
    if nagari is None:
        raise InvalidInput("nagari.unknown")
    return Accepted({"nagari_code": nagari.code})


def v_jorong(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    text = " ".join((answer.text or "").split())
    if not 2 <= len(text) <= 50 or not any(ch.isalpha() for ch in text):
        raise InvalidInput("jorong.invalid", min=2, max=50)
    if any(not (ch.isalnum() or ch in " .'-/()") for ch in text):
        raise InvalidInput("jorong.invalid", min=2, max=50)
    return Accepted({"jorong": text.title() if text.islower() or text.isupper() else text})


def v_phone(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.button and answer.button.id == "phone:known" and ctx.known_phone:
        return Accepted({"phone": parse_phone(ctx.known_phone)})
    if answer.contact is not None:
        if not answer.contact.is_own:
            raise InvalidInput("phone.contact_not_own")
        return Accepted({"phone": parse_phone(answer.contact.phone)})
    return Accepted({"phone": parse_phone(answer.text or "")})


def v_income(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.choice == "more":
        return Accepted(again={"type_amount": True})
    text = (answer.text or "").strip()
    if not answer.choice and re.fullmatch(r"[0-9]{1,3}", text):
        # A bare "2" is not Rp 2, and may be the second button (shown without a number): ask.
        n = int(text)
        amount = n * 1_000_000 if 1 <= n <= BARE_MILLIONS_MAX else n * 1000 if n >= 100 else None
        if amount is not None:
            return Accepted(guess=(str(amount), ctx.t(state.lang, "income.guess", amount=rupiah(amount))))
    reading = None if answer.choice else read_amount(text)
    if reading is not None and not reading.sure:
        # Per day, per week, per year, a range or an estimate: the month's figure, confirmed.
        if reading.monthly < MIN_INCOME:
            raise InvalidInput("income.too_low", min=MIN_INCOME)
        return Accepted(guess=(str(reading.monthly), income_label(reading, ctx, state)))
    if reading is None and not answer.choice:
        if harvest_amount(text):
            raise InvalidInput("income.per_harvest")
        if income_uncertain(text):
            raise InvalidInput("income.uncertain")
    income = int(answer.choice) if answer.choice else parse_income(
        str(reading.monthly) if reading else amount_text(text), minimum=MIN_INCOME)
    # The declared income is kept as given; the nagari pays the programme's fixed amount.
    contribution = ctx.rules.programme_contribution(ctx.today)
    return Accepted(
        {
            "income": income,
            "income_base": contribution.income_base,
            "monthly_contribution": contribution.monthly,
        },
        notes=(
            (
                "income.contribution",
                {
                    "base": rupiah(contribution.income_base),
                    "jkk": rupiah(contribution.jkk),
                    "jkm": rupiah(contribution.jkm),
                    "total": rupiah(contribution.monthly),
                },
            ),
        ),
    )


def income_label(reading: Amount, ctx: Ctx, state: State) -> str:
    """What we understood, said back for one tap: "Rp 1.250.000 sebulan (Rp 50.000 sehari x 25
    hari kerja)", so that the person sees how the month's figure was made."""
    amount = rupiah(reading.monthly)
    if reading.period == "day":
        return ctx.t(state.lang, "income.guess_day", amount=amount, per=rupiah(reading.figure),
                     days=int(reading.per_month))
    if reading.period == "week":
        return ctx.t(state.lang, "income.guess_week", amount=amount, per=rupiah(reading.figure),
                     weeks=int(reading.per_month))
    if reading.period == "year":
        return ctx.t(state.lang, "income.guess_year", amount=amount, per=rupiah(reading.figure))
    if reading.low is not None and reading.high is not None:
        return ctx.t(state.lang, "income.guess_range", amount=amount, low=rupiah(reading.low),
                     high=rupiah(reading.high))
    return ctx.t(state.lang, "income.guess", amount=amount)


def v_heir_name(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.choice == "skip":
        return Accepted({"heir_name": None})
    text = answer.text or ""
    alone = only_relation(text)
    if alone is not None:
        # "suami saya": the relation, but whose name?
        raise InvalidInput("heir_name.relation_only", relation=ctx.t(state.lang, f"btn.rel.{alone}"))
    relation: str | None = None
    # "Ahmad (suami)", "Ahmad - suami", "istri saya Siti": the name and the relation at once.
    inside = re.fullmatch(r"\s*(.+?)\s*[(\[]\s*([^)\]]+?)\s*[)\]]\s*", text) or re.fullmatch(
        r"\s*([^,\-]+?)\s*[,\-\u2013]\s*([^,\-]+?)\s*", text)
    if inside:
        reading = read_choice(inside.group(2), heir_relation_choices(ctx, state), numbers_shown=False, fuzzy=False)
        if reading:
            text, relation = inside.group(1), reading.button.id.split(":", 1)[1]
    else:
        lead = relation_prefix(text)
        if lead:
            relation, text = lead
        else:
            after = relation_suffix(strip_titles(text) or text)
            if after:
                # "Ahmad suami", "Rina anak saya": taken, with one tap to confirm ("Putri" may be
                # a name): yes gives "Ahmad (suami_istri)", read by the parenthesis above.
                relation, name = after
                label = ctx.t(state.lang, "heir_name.guess", name=normalize_name(strip_titles(name) or name),
                              relation=ctx.t(state.lang, f"btn.rel.{relation}"))
                return Accepted(guess=(f"{strip_titles(name) or name} ({relation})", label))
    text = strip_titles(text) or text
    values: dict[str, Any] = {"heir_name": normalize_name(text)}
    if relation:
        values["heir_relation"] = relation
    return Accepted(values)


def v_heir_relation(answer: Answer, ctx: Ctx, state: State) -> Accepted:
    if answer.choice:
        return Accepted({"heir_relation": answer.choice})
    text = " ".join((answer.text or "").split())
    if not 3 <= len(text) <= 30 or not all(ch.isalpha() or ch in " -/" for ch in text):
        raise InvalidInput("heir_relation.invalid")
    return Accepted({"heir_relation": text.lower()})


def _birth_params(ctx: Ctx, state: State) -> dict[str, Any]:
    birth = date.fromisoformat(state.answers["birth_date_nik"])
    return {"date": format_date(birth, ctx, state.lang)}


def _phone_params(ctx: Ctx, state: State) -> dict[str, Any]:
    return {"phone": format_phone(ctx.known_phone) if ctx.known_phone else ""}


def _nagari_prompt(ctx: Ctx, state: State) -> str:
    if suggested_nagari(ctx, state) is not None:
        return "link.nagari.confirm"
    if state.pending.get("options"):
        return "nagari.did_you_mean"
    if state.pending.get("kec"):
        return "nagari.pick"
    return "nagari.prompt"


def _phone_prompt(ctx: Ctx, state: State) -> str:
    # The WhatsApp sender's number is offered for confirmation: the person must see which number.
    return "phone.prompt_known" if ctx.known_phone else "phone.prompt"


def _nagari_params(ctx: Ctx, state: State) -> dict[str, Any]:
    suggested = suggested_nagari(ctx, state)
    if suggested is not None:
        return {"nagari": suggested.name, "kecamatan": suggested.kecamatan.name}
    kec = state.pending.get("kec")
    name = next((k.name for k in ctx.wilayah.kecamatan if k.code == kec), "")
    return {"kecamatan": name}


# ---------------------------------------------------------------------------------------------
FORM: tuple[Field, ...] = (
    Field("consent", 1, "consent.prompt", "choice", v_consent, yes_no("consent"), step=1,
          params=lambda ctx, s: {
              "version": ctx.rules.consent_version,
              "years": ctx.rules.retention_years,
              "dpo": ctx.rules.data_protection_officer,
          }),
    Field("elig_domicile", 2, "elig.domicile", "choice", v_domicile, yes_no("yn"), step=2),
    Field("elig_member", 2, "elig.member", "choice", v_member,
          lambda ctx, s: _buttons(ctx, s, "member", ["yes", "no", "unknown"]), step=3),
    Field("elig_work", 2, "elig.work", "choice", v_work,
          lambda ctx, s: _buttons(ctx, s, "work", ["own", "employee"]), step=4),
    Field("category", 3, "category.prompt", "choice", v_category, category_choices, step=5, numbered=True),
    Field("category_other", 3, "category_other.prompt", "text", v_category_other,
          when=lambda a: a.get("category") == "lainnya", example="category_other.example", step=5,
          prefix="category_other", free_text=True),
    Field("name", 4, "name.prompt", "text", v_name, example="name.example", step=6, prefix="name",
          free_text=True),
    Field("nik", 5, "nik.prompt", "text", v_nik, example="nik.example", step=7, prefix="nik"),
    Field("birth_confirm", 5, "birth_confirm.prompt", "choice", v_birth_confirm, yes_no("yn"),
          params=_birth_params, step=7),
    Field("birth_date", 5, "birth_date.prompt", "text", v_birth_date,
          when=lambda a: a.get("birth_confirm") == "no", example="birth_date.example", step=7,
          prefix="birth_date"),
    Field("nagari", 6, _nagari_prompt, "text", v_nagari, nagari_choices, params=_nagari_params,
          example="nagari.example", typed_match=("nag:", "link:"), step=8, numbered=True, prefix="nagari"),
    Field("jorong", 7, "jorong.prompt", "text", v_jorong, example="jorong.example", step=9,
          prefix="jorong", free_text=True),
    Field("phone", 8, _phone_prompt, "text", v_phone, phone_choices, params=_phone_params,
          example="phone.example", request_contact=True, step=10, prefix="phone", on_no="phone.type_other"),
    Field("income", 9, lambda ctx, s: "income.type" if s.pending.get("type_amount") else "income.prompt",
          "text", v_income, income_choices, example="income.example", step=11),
    Field("heir_name", 10, "heir_name.prompt", "text", v_heir_name, heir_name_choices,
          example="heir_name.example", step=12, prefix="heir_name", free_text=True),
    Field("heir_relation", 10, "heir_relation.prompt", "text", v_heir_relation,
          heir_relation_choices, when=lambda a: bool(a.get("heir_name")), step=12, numbered=True,
          free_text=True),
)

FIELDS = {f.key: f for f in FORM}
# Which answer keys each field writes (cleared together when the field is asked again).
FIELD_VALUES: dict[str, tuple[str, ...]] = {
    "consent": ("consent",),
    "elig_domicile": ("elig_domicile",),
    "elig_member": ("elig_member",),
    "elig_work": ("elig_work",),
    "category": ("category",),
    "category_other": ("category_other",),
    "name": ("name",),
    "nik": ("nik", "sex", "birth_date_nik"),
    "birth_confirm": ("birth_confirm", "birth_date"),
    "birth_date": ("birth_date",),
    "nagari": ("nagari_code",),
    "jorong": ("jorong",),
    "phone": ("phone",),
    "income": ("income", "income_base", "monthly_contribution"),
    "heir_name": ("heir_name",),
    "heir_relation": ("heir_relation",),
}
# Flags a field may raise, cleared when it is answered again.
FIELD_FLAGS: dict[str, tuple[str, ...]] = {
    "elig_member": ("membership_unknown",),
    "nik": ("nik_outside_regency", "birth_date_mismatch"),
    "birth_date": ("birth_date_mismatch",),
}
# The summary's numbered lines: (catalog label key, form group edited by that number).
SUMMARY_LINES: tuple[tuple[str, int], ...] = (
    ("summary.category", 3),
    ("summary.name", 4),
    ("summary.nik", 5),
    ("summary.nagari", 6),
    ("summary.jorong", 7),
    ("summary.phone", 8),
    ("summary.income", 9),
    ("summary.heir", 10),
)


def answered(field_: Field, answers: dict[str, Any]) -> bool:
    return all(k in answers for k in FIELD_VALUES[field_.key][:1])
