"""Programme rules the conversation applies, as validated configuration values.

These models are filled from config.yaml by bot/config.py; the conversation only reads them.
Keeping them here (not in bot/) lets conversations/ stay free of wiring code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class Category(BaseModel):
    """A work category offered to the worker ("lainnya" asks for free text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z_]{2,20}$")
    id_title: str = Field(min_length=2, max_length=24)
    en_title: str = Field(min_length=2, max_length=24)

    def title(self, lang: str) -> str:
        return self.en_title if lang == "en" else self.id_title


class Bracket(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    up_to: int | None = Field(default=None, gt=0)
    base: int = Field(gt=0)


class ContributionRule(BaseModel):
    """Contribution rates in force from `effective_from` (PP 44/2015 Lampiran II for BPU)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    effective_from: date
    jkk_percent: float = Field(gt=0, le=10)
    jkm_flat: int = Field(ge=0)
    brackets: tuple[Bracket, ...] = Field(min_length=1)

    @field_validator("brackets")
    @classmethod
    def _ordered(cls, brackets: tuple[Bracket, ...]) -> tuple[Bracket, ...]:
        limits = [b.up_to for b in brackets]
        if limits[-1] is not None:
            raise ValueError("the last bracket must have up_to: null (no upper limit)")
        finite = [x for x in limits[:-1] if x is not None]
        if len(finite) != len(limits) - 1 or finite != sorted(set(finite)):
            raise ValueError("brackets must be in increasing order of up_to")
        return brackets


@dataclass(frozen=True)
class Contribution:
    """The monthly contribution for one worker: JKK on the bracket base plus flat JKM."""

    income_base: int
    jkk: int
    jkm: int

    @property
    def monthly(self) -> int:
        return self.jkk + self.jkm


class ContributionTable(BaseModel):
    model_config = ConfigDict(frozen=True)
    rules: tuple[ContributionRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _sorted(self) -> "ContributionTable":
        dates = [r.effective_from for r in self.rules]
        if len(set(dates)) != len(dates):
            raise ValueError("two contribution rules have the same effective_from")
        return self

    def rule_on(self, day: date) -> ContributionRule:
        applicable = [r for r in self.rules if r.effective_from <= day]
        if not applicable:
            return min(self.rules, key=lambda r: r.effective_from)
        return max(applicable, key=lambda r: r.effective_from)

    def for_income(self, income: int, day: date) -> Contribution:
        rule = self.rule_on(day)
        for bracket in rule.brackets:
            if bracket.up_to is None or income <= bracket.up_to:
                jkk = round(bracket.base * rule.jkk_percent / 100)
                return Contribution(income_base=bracket.base, jkk=jkk, jkm=rule.jkm_flat)
        raise AssertionError("unreachable: the last bracket has no upper limit")


class AgeLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    min: int = Field(default=15, ge=0, le=120)
    max: int = Field(default=65, ge=0, le=120)

    @model_validator(mode="after")
    def _order(self) -> "AgeLimits":
        if self.min > self.max:
            raise ValueError("age.min must not be above age.max")
        return self


class ConversationRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    draft_expiry_days: int = Field(default=30, ge=1)
    resume_after_minutes: int = Field(default=60, ge=1)
    max_failures: int = Field(default=3, ge=1, le=10)
    max_input_chars: int = Field(default=1000, ge=50, le=4000)


class HelpContacts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    default: str = Field(min_length=3)
    bpjs_branch: str = ""
    nagari: dict[str, str] = Field(default_factory=dict)
    # `default` in other languages than the first, e.g. {en: "..."}; missing ones use `default`.
    default_by_language: dict[str, str] = Field(default_factory=dict)

    def for_nagari(self, code: str | None, lang: str | None = None) -> str:
        if code and code in self.nagari:
            return self.nagari[code]
        return self.default_by_language.get(lang or "", self.default)


class FundedBase(BaseModel):
    """The contribution base the programme pays for, from `effective_from` (dated, as the
    contribution table is). `base: null` is the lowest bracket of the rule in force."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    effective_from: date
    base: int | None = Field(default=None, gt=0)


class Escalation(BaseModel):
    """How long things may wait before someone is reminded, then someone above them."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # A registration pending this long is reminded to its nagari's operators, then to the admins.
    pending_operator_days: int = Field(default=3, ge=1, le=60)
    pending_admin_days: int = Field(default=7, ge=1, le=90)
    # A deletion request of an approved or enrolled worker (UU 27/2022: answer within 3 x 24 h):
    # the operator is told at once, reminded after the first, the admins after the second.
    withdrawal_operator_hours: int = Field(default=48, ge=1, le=240)
    withdrawal_admin_hours: int = Field(default=72, ge=1, le=240)

    @model_validator(mode="after")
    def _order(self) -> "Escalation":
        if self.pending_admin_days < self.pending_operator_days:
            raise ValueError("pending_admin_days must not be before pending_operator_days")
        if self.withdrawal_admin_hours < self.withdrawal_operator_hours:
            raise ValueError("withdrawal_admin_hours must not be before withdrawal_operator_hours")
        return self


class ProgrammeRules(BaseModel):
    """Satu Nagari 100 Pekerja Rentan: what the nagari pays for each funded worker, whatever
    income the worker declared (the declared income is kept as its own value), the budget
    year's continuation list, and the escalation times."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    funding_source: str = Field(default="apb_nagari", pattern=r"^[a-z_]{2,20}$")
    funded_base: tuple[FundedBase, ...] = Field(
        default=(FundedBase(effective_from=date(2023, 10, 2)),), min_length=1)
    # In December, on this day, each operator gets the participants who will continue next year.
    continuation_day: int = Field(default=1, ge=1, le=28)
    escalation: Escalation = Escalation()

    @field_validator("funded_base")
    @classmethod
    def _distinct(cls, entries: tuple[FundedBase, ...]) -> tuple[FundedBase, ...]:
        dates = [e.effective_from for e in entries]
        if len(set(dates)) != len(dates):
            raise ValueError("two funded_base entries have the same effective_from")
        return entries

    def base_on(self, day: date) -> FundedBase:
        applicable = [e for e in self.funded_base if e.effective_from <= day]
        if not applicable:
            return min(self.funded_base, key=lambda e: e.effective_from)
        return max(applicable, key=lambda e: e.effective_from)


def funded_base_problem(programme: ProgrammeRules, contributions: ContributionTable) -> str | None:
    """A configured funded base must be one of the brackets of the rule in force on its date."""
    for entry in programme.funded_base:
        rule = contributions.rule_on(entry.effective_from)
        if entry.base is not None and entry.base not in {b.base for b in rule.brackets}:
            return (f"programme.funded_base: {entry.base} is not a bracket base of the contribution "
                    f"rule in force on {entry.effective_from}")
    return None


class FlowRules(BaseModel):
    """Everything the registration flow needs to know about the deployment."""

    model_config = ConfigDict(frozen=True)
    nik_prefix: str = Field(pattern=r"^\d{4}$")
    languages: tuple[str, ...]
    default_language: str
    consent_version: str
    retention_years: int
    data_protection_officer: str
    age: AgeLimits
    categories: tuple[Category, ...]
    contributions: ContributionTable
    income_choices: tuple[int, ...]
    conversation: ConversationRules
    help: HelpContacts
    programme: ProgrammeRules = ProgrammeRules()

    @model_validator(mode="after")
    def _funded_base_is_a_bracket(self) -> "FlowRules":
        problem = funded_base_problem(self.programme, self.contributions)
        if problem:
            raise ValueError(problem)
        return self

    def programme_contribution(self, on: date) -> Contribution:
        """THE programme's monthly amount per funded worker on a day: JKK on the funded base
        (the lowest bracket unless configured) plus flat JKM, from the rules in force that day.
        The worker's summary, the operators' payment reminder, exports and statistics all call
        this; a worker's declared income never changes what the nagari pays."""
        rule = self.contributions.rule_on(on)
        base = self.programme.base_on(on).base or min(b.base for b in rule.brackets)
        return Contribution(income_base=base, jkk=round(base * rule.jkk_percent / 100), jkm=rule.jkm_flat)

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)
