"""The settings models: config.yaml as validated data (`AppConfig` and its sections).

They live below handlers/ so that the use-cases can type against them without importing the
program's edges (bot/); bot/config.py loads and validates the file and re-exports these names.
Every section refuses unknown keys (`extra="forbid"`), so a misspelt key stops the program with
a message naming it instead of being silently ignored.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from conversations.campaign_compose import CampaignContent
from conversations.handover import HandoverRules
from conversations.officials import OfficialsRules
from conversations.rules import (
    AgeLimits,
    Category,
    ContributionRule,
    ContributionTable,
    ConversationRules,
    FlowRules,
    HelpContacts,
    ProgrammeRules,
    funded_base_problem,
)
from handlers.retry import RetryPolicy
from handlers.shutdown import ShutdownRules

PROJECT_ROOT = Path(__file__).resolve().parent.parent


# -- Sending (`delivery:`) and reminders (`reminders:`) ------------------------------------------
class DeliveryRules(BaseModel):
    """config.yaml `delivery:`: how the outbox worker sends."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # Equal start and end: no quiet hours.
    quiet_start: clock_time = clock_time(21, 0)
    quiet_end: clock_time = clock_time(7, 0)
    # Each channel's sender paces every message (replies, notices, campaigns) at the platform's
    # limit (telegram.messages_per_second, whatsapp.throughput_per_second) x headroom, shared by
    # the `worker_processes` processes that send at the same time: one pacing per channel.
    rate_headroom: float = Field(default=0.95, gt=0, le=1)
    worker_processes: int = Field(default=1, ge=1)
    max_consecutive_failures: int = Field(default=5, ge=1)
    max_attempts: int = Field(default=6, ge=1)
    backoff_seconds: float = Field(default=30, gt=0)
    backoff_max_seconds: float = Field(default=3600, gt=0)
    # A batch still "sending" after this long belongs to a dead worker and is queued again.
    # Must exceed the time one batch takes (batch_size / rate).
    lease_seconds: float = Field(default=120, gt=0)
    # A turn's messages are claimed by the process that handled the turn, which sends them
    # within a few seconds (per-chat pacing); after this long its process is taken for dead.
    reply_lease_seconds: float = Field(default=15, gt=0)
    # A worker claims at most what the slowest channel sends in `claim_seconds` at its rate (and
    # never more than batch_size): a worker killed mid-batch repeats at most that much.
    batch_size: int = Field(default=50, ge=1, le=1000)
    claim_seconds: float = Field(default=1.0, gt=0, le=60)
    concurrency: int = Field(default=32, ge=1)
    # Campaigns and reminders wait while the person's conversation moved this recently.
    busy_minutes: int = Field(default=30, ge=0)
    # Run the worker inside the bot process (embedded default); turn off when separate
    # `python -m bot worker` processes run against PostgreSQL.
    embedded_worker: bool = True
    poll_seconds: float = Field(default=1.0, gt=0)
    scheduler_seconds: float = Field(default=60.0, gt=0)

    def share(self, limit: float) -> float:
        """This process's part of a platform's rate limit (messages per second)."""
        return limit * self.rate_headroom / self.worker_processes

    def retry(self) -> RetryPolicy:
        """A failed message waits backoff_seconds, then twice that, ... up to backoff_max_seconds,
        and is given up after max_attempts."""
        return RetryPolicy(base=self.backoff_seconds, cap=self.backoff_max_seconds, max_attempts=self.max_attempts)

    def claim_size(self, rates: Iterable[float]) -> int:
        """How many messages one round claims when sending at these rates (the senders' paces,
        messages per second): a batch may mix channels, so the slowest one sets it."""
        rates = [rate for rate in rates if rate]
        if not rates:
            return self.batch_size
        return max(1, min(self.batch_size, math.floor(min(rates) * self.claim_seconds)))


class ReminderRules(BaseModel):
    """config.yaml `reminders:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    unfinished_after_hours: tuple[int, ...] = (24, 72)
    # Daily reminders (digest, coverage, contribution) go out from this local time (WIB).
    morning: clock_time = clock_time(8, 0)
    # The daily digest of registrations waiting for the nagari's operators (off: false).
    pending_digest: bool = True
    digest_statuses: tuple[str, ...] = ("pending",)
    # Village budgets usually fund 12 months (docs/domain.md).
    funded_months: int = Field(default=12, ge=1)
    coverage_ending_days: tuple[int, ...] = (30, 7)
    contribution_day: int = Field(default=1, ge=1, le=28)
    arrears_months: int = Field(default=3, ge=1)
    late_window_hours: int = Field(default=12, ge=1)



# -- Telegram (`telegram:`); the token and webhook secrets come from the environment ---------
# Defaults follow the Bot API's published limits: about 30 messages per second across chats,
# about one per second in one chat.

class TelegramConfig(BaseModel):
    """config.yaml `telegram:`: how the one Telegram sender paces and retries."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # ~30 messages/s across all chats; broadcasts above that get HTTP 429.
    messages_per_second: float = Field(default=30.0, gt=0)
    # ~1 message/s in one chat; a short burst (a reply and the next question) is tolerated.
    per_chat_interval_seconds: float = Field(default=1.0, ge=0.001)
    per_chat_burst: int = Field(default=3, ge=1)
    # Tries per API call on 429 and transient errors (network, 5xx) before giving up.
    max_attempts: int = Field(default=5, ge=1, le=20)
    backoff_seconds: float = Field(default=0.5, gt=0)
    backoff_max_seconds: float = Field(default=8.0, gt=0)
    # getUpdates long-poll timeout (Telegram holds the request open up to this long).
    poll_timeout_seconds: int = Field(default=30, ge=0, le=50)
    # Updates recorded but left unfinished (a drain that failed) are retried this often.
    recover_every_seconds: float = Field(default=60.0, gt=0)
    # The officials' command menus are checked against their roles this often (at once after a
    # change made in this process's chats; this catches the command line and other processes).
    menu_refresh_seconds: float = Field(default=60.0, gt=0)
    # Inline buttons go two per row when every title is at most this long, else one per row.
    two_per_row_max_chars: int = Field(default=16, ge=0)


# -- WhatsApp (`whatsapp:`); defaults are the Cloud API's limits, and a value above a platform
# limit is refused, since Meta would refuse the messages instead ---------------------------


class RenderLimits(BaseModel):
    """How choices become WhatsApp interactive messages (Cloud API limits are the maxima)."""

    model_config = ConfigDict(extra="forbid")
    reply_buttons_max: int = Field(3, ge=1, le=3)
    button_title_max: int = Field(20, ge=4, le=20)
    list_rows_max: int = Field(10, ge=1, le=10)
    row_title_max: int = Field(24, ge=4, le=24)
    row_description_max: int = Field(72, ge=4, le=72)
    text_max: int = Field(4096, ge=100, le=4096)
    # Body of an interactive message (buttons, list) and media captions: 1024 characters.
    body_max: int = Field(1024, ge=100, le=1024)


# Meta's pricing categories of templates (bot/whatsapp/templates.py gives each template one).
PricingCategory = Literal["MARKETING", "UTILITY", "AUTHENTICATION", "AUTHENTICATION_INTERNATIONAL"]
PRICING_SOURCE = "https://developers.facebook.com/docs/whatsapp/pricing"


class TemplatePricing(BaseModel):
    """config.yaml `whatsapp.pricing:`: what Meta charges per delivered template, by category.

    Only templates cost money: a free-form message inside a person's 24-hour window is free,
    and so is Telegram. The broadcast composer and report multiply the number of templates by
    the rate of the template's category (handlers/campaign_cost.py). Rates are facts read from
    Meta's rate card by hand, so they carry the date they were read, where, and whether anyone
    confirmed them: every estimate shown says so. Without the section (an older config.yaml)
    there are no rates, and the estimate says the cost is unknown instead of inventing one."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # ISO 4217 code of the rates: IDR (shown "Rp 1.234"), USD, ...
    currency: str = Field(default="IDR", pattern=r"^[A-Z]{3}$")
    # Price of one delivered template, per category; a missing category has no known price.
    rates: dict[PricingCategory, Decimal] = Field(default_factory=dict)
    # When the rates were read from `source`, and where.
    read_on: date | None = None
    source: str = PRICING_SOURCE
    # Not yet checked against Meta's rate card or a Meta invoice: every estimate says so.
    unconfirmed: bool = True

    @field_validator("rates")
    @classmethod
    def _not_negative(cls, rates: dict[str, Decimal]) -> dict[str, Decimal]:
        for category, rate in rates.items():
            if not rate.is_finite() or rate < 0:
                raise ValueError(f"{category}: a price is a number of 0 or more")
        return rates


class WhatsAppConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Graph API version in request paths; None = the version pywa was released for.
    api_version: str | None = None
    # Messages per second for the business number: 80 by default, up to 1,000 when upgraded.
    throughput_per_second: int = Field(80, ge=1, le=1000)
    # Per-person pair rate: one message per this many seconds, after a burst (error 131056).
    pair_interval_seconds: float = Field(6.0, gt=0, le=60)
    pair_burst: int = Field(20, ge=1, le=45)
    # Back-off on 130429 (throughput) and 131056 (pair rate): base * 2^attempt seconds.
    retry_attempts: int = Field(4, ge=0, le=10)
    retry_base_seconds: float = Field(1.0, gt=0, le=60)
    # 131048 (spam flag): bulk sending pauses this long (replies still go).
    spam_pause_minutes: int = Field(60, ge=1)
    # Outside the 24-hour customer-service window: send the template, or wait for the person.
    window_hours: float = Field(24, gt=0, le=24)
    window_policy: Literal["template", "wait"] = "template"
    # A waiting message older than this is dropped (status "expired") instead of sent late.
    wait_max_hours: int = Field(72, ge=1)
    # Meta redelivers for up to 7 days; a signed message older than this is a replay: ignored.
    max_message_age_hours: int = Field(8 * 24, ge=1)
    request_timeout_seconds: float = Field(20, gt=0)
    # People handled at the same time in the background (the webhook answers meanwhile).
    handling_concurrency: int = Field(8, ge=1, le=256)
    # Meta's status of our templates (bot/whatsapp/template_admin.py) is read again this often by
    # the server (also at start and on each message_template_status_update webhook): a template
    # paused or disabled without a webhook reaching us stops being used within this time.
    template_sync_minutes: int = Field(60, ge=1, le=24 * 60)
    render: RenderLimits = RenderLimits()
    # Meta's price per delivered template, by category (unconfirmed until the regency checks).
    pricing: TemplatePricing = TemplatePricing()


# -- After an accident or a death (`claims:`): the facts the claim helper cites ----------------
# Facts about BPJS Ketenagakerjaan's rules and its office serving the regency, each with where it
# comes from; what no source confirmed says so (docs/domain.md "Claims"). Defaults are the facts
# as read on 2026-12-08, so that a config.yaml without the section still loads.

class ClaimBranch(BaseModel):
    """The BPJS Ketenagakerjaan office that serves Kabupaten Sijunjung: where a death claim is
    made (in person, the Lapak Asik queue) and where work accidents are reported."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="BPJS Ketenagakerjaan Kantor Cabang Solok", min_length=3)
    # Street address and opening hours only where a source gives them; None: unconfirmed, and
    # the messages send people to the nagari or the call centre for them instead.
    address: str | None = None
    hours: str | None = None
    sources: tuple[str, ...] = ()
    read_on: date | None = None


class HealthFacility(BaseModel):
    """A partner health facility for work accidents (PLKK: Pusat Layanan Kecelakaan Kerja)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=3)
    place: str = ""
    confirmed: bool = False
    source: str = ""


class ClaimBenefits(BaseModel):
    """What the rules provide, in rupiah, as the messages cite them ("menurut ketentuan").
    PP 82/2019 (amending PP 44/2015), Permenaker 5/2021."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # JKM (death, not from a work accident): Rp 42 juta in three parts.
    jkm_lump_sum: int = Field(default=20_000_000, ge=0)
    jkm_periodic: int = Field(default=12_000_000, ge=0)  # 24 months' worth, paid at once
    jkm_funeral: int = Field(default=10_000_000, ge=0)
    # Death from a work accident (JKK): this many times the monthly income base (the
    # programme's Rp 1 juta), plus the periodic payment and the funeral costs.
    jkk_death_income_multiple: int = Field(default=48, ge=1)
    jkk_death_periodic: int = Field(default=12_000_000, ge=0)
    jkk_death_funeral: int = Field(default=10_000_000, ge=0)
    # School grants: for at most this many children; after a JKM death only when contributions
    # were paid for at least this many years (asked for every school year).
    scholarship_children: int = Field(default=2, ge=0)
    scholarship_after_years: int = Field(default=3, ge=0)
    sources: tuple[str, ...] = ()

    @property
    def jkm_total(self) -> int:
        return self.jkm_lump_sum + self.jkm_periodic + self.jkm_funeral

    def jkk_death(self, income_base: int) -> int:
        return self.jkk_death_income_multiple * income_base + self.jkk_death_periodic + self.jkk_death_funeral


class ClaimRules(BaseModel):
    """config.yaml `claims:`: the branch, the call centre, the PLKKs, the amounts and deadlines
    the claim helper cites, and when it reminds (handlers/claims_cases.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    branch: ClaimBranch = ClaimBranch()
    call_centre: str = Field(default="175", min_length=3)
    plkk: tuple[HealthFacility, ...] = ()
    # A work accident is reported to the branch or a PLKK within this many hours.
    report_within_hours: int = Field(default=48, ge=1, le=24 * 30)
    # The right to claim work-accident benefits lapses this many years after the accident.
    claim_years: int = Field(default=5, ge=1, le=30)
    benefits: ClaimBenefits = ClaimBenefits()
    # Reminders: the nagari's operators (and the family) about a report not yet made to BPJS,
    # this long after the case was opened (while the deadline is still ahead) ...
    report_remind_after_hours: int = Field(default=24, ge=1)
    # ... the family about documents, when the case has not reached "documents complete" ...
    documents_after_days: int = Field(default=5, ge=1)
    # ... and about the claim right, this many days before it lapses.
    limit_warning_days: int = Field(default=90, ge=1)
    # A claim conversation left unfinished this long is deleted.
    dialog_expiry_hours: int = Field(default=48, ge=1)
    # A case over (paid, refused, closed) keeps its chronology and contacts this long, then only
    # what the statistics count.
    keep_personal_days: int = Field(default=365, ge=1)
    # Open questions (listed for the record: docs/domain.md).
    unconfirmed: tuple[str, ...] = ()


# -- the whole file ---------------------------------------------------------------------------


class Regency(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    kemendagri_code: str = Field(pattern=r"^\d{2}\.\d{2}$")
    nik_prefix: str = Field(pattern=r"^\d{4}$")
    programme: str
    target_workers: int = Field(gt=0)
    vulnerable_workers: int = Field(gt=0)


class DataFiles(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wilayah_csv: Path
    crosswalk_csv: Path | None = None


class AbuseLimits(BaseModel):
    """What one sender may cost everyone else (README "Security": what is limited and where)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # A person's messages waiting to be handled beyond this are set aside (kept, one log line)
    # and the person gets one kind answer: a stuck phone or a flood cannot queue hours of turns.
    backlog_max: int = Field(default=20, ge=2, le=1000)
    # Wrong invitation codes one person may try per hour before being locked out for the hour.
    invite_guesses_per_hour: int = Field(default=5, ge=1, le=100)
    # Wrong chat-linking codes ("hubungkan <code>") a chat may type in an hour.
    link_guesses_per_hour: int = Field(default=5, ge=1, le=100)
    # Help-desk tickets one person may open per (local) day.
    tickets_per_day: int = Field(default=3, ge=1, le=100)
    # A worker's messages inside an open ticket reach the official at most once this often,
    # the messages in between collected in one push with their count.
    ticket_push_seconds: int = Field(default=60, ge=0, le=3600)
    # Webhook requests: the body is read with this limit and must arrive within this time.
    webhook_body_max_bytes: int = Field(default=3 * 1024 * 1024, ge=1024)
    slow_client_seconds: float = Field(default=30, gt=0, le=600)


class AppConfig(BaseModel):
    """The whole of config.yaml; a key that no section knows is an error (extra="forbid")."""

    model_config = ConfigDict(extra="forbid")
    regency: Regency
    data: DataFiles
    languages: list[str] = Field(min_length=1)
    default_language: str
    consent_version: str = Field(min_length=1)
    retention_years: int = Field(ge=1, le=30)
    data_protection_officer: str = Field(min_length=3)
    age: AgeLimits = AgeLimits()
    categories: list[Category] = Field(min_length=2)
    contributions: list[ContributionRule] = Field(min_length=1)
    income_choices: list[int] = Field(min_length=1, max_length=9)
    conversation: ConversationRules = ConversationRules()
    help: HelpContacts
    whatsapp: WhatsAppConfig = WhatsAppConfig()
    telegram: TelegramConfig = TelegramConfig()
    # Campaigns, reminders and the outbox worker: optional, with defaults.
    campaigns: CampaignContent | None = None
    reminders: ReminderRules = ReminderRules()
    delivery: DeliveryRules = DeliveryRules()
    # Nagari officials: quotas, invitations, digests, exports; optional, with defaults.
    officials: OfficialsRules = OfficialsRules()
    # The programme's own rules: funded contribution base (dated), continuation, escalation.
    programme: ProgrammeRules = ProgrammeRules()
    # A person to talk to: office hours, reminders, escalation and closing of tickets.
    handover: HandoverRules = HandoverRules()
    # SIGTERM/SIGINT: how long work in flight may take to finish before the process exits.
    shutdown: ShutdownRules = ShutdownRules()
    # One sender's share: backlogs, invitation guesses, help-desk tickets, webhook bodies.
    limits: AbuseLimits = AbuseLimits()
    # After an accident or a death: the facts the claim helper cites and its reminders.
    claims: ClaimRules = ClaimRules()

    @model_validator(mode="after")
    def _consistent(self) -> "AppConfig":
        unknown = set(self.languages) - {"id", "en"}
        if unknown:
            raise ValueError(f"languages: no message catalog for {sorted(unknown)}")
        if self.default_language not in self.languages:
            raise ValueError("default_language must be one of languages")
        ids = [c.id for c in self.categories]
        if len(set(ids)) != len(ids):
            raise ValueError("categories: two categories have the same id")
        if "lainnya" not in ids:
            raise ValueError("categories: the 'lainnya' (other) category is required")
        if self.regency.nik_prefix != self.regency.kemendagri_code.replace(".", ""):
            raise ValueError("regency.nik_prefix must be kemendagri_code without the dot")
        problem = funded_base_problem(self.programme, ContributionTable(rules=tuple(self.contributions)))
        if problem:
            raise ValueError(problem)
        # The branch is named in one place, `claims.branch` (the eligibility answers name it too).
        if not self.help.bpjs_branch:
            self.help = self.help.model_copy(update={"bpjs_branch": self.claims.branch.name})
        elif self.help.bpjs_branch != self.claims.branch.name:
            raise ValueError("help.bpjs_branch: leave it out; the branch is claims.branch.name")
        return self

    def resolve(self, path: Path) -> Path:
        return path if path.is_absolute() else PROJECT_ROOT / path

    def flow_rules(self) -> FlowRules:
        return FlowRules(
            nik_prefix=self.regency.nik_prefix,
            languages=tuple(self.languages),
            default_language=self.default_language,
            consent_version=self.consent_version,
            retention_years=self.retention_years,
            data_protection_officer=self.data_protection_officer,
            age=self.age,
            categories=tuple(self.categories),
            contributions=ContributionTable(rules=tuple(self.contributions)),
            income_choices=tuple(self.income_choices),
            conversation=self.conversation,
            help=self.help,
            programme=self.programme,
        )
