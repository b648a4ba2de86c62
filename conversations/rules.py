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

    def category(self, category_id: str) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)
