"""Officials' reports, pure: what the statistics found (views) and how they are said (Replies with
catalog keys), numbers in Indonesian format (`1.234`, `12,5%`), and the registration funnel.

No I/O here: handlers/stats.py counts in the database and handlers/charts.py draws.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from conversations.events import Reply
from conversations.form import FIELDS, SUMMARY_GROUP
from conversations.officials import Say

# Statuses in the order a registration moves through them (charts stack them in this order).
STATUS_ORDER = ("enrolled", "approved", "waiting", "pending", "correction", "rejected", "withdrawn",
                "deletion_requested")
# Approved or enrolled: a slot of the nagari's quota (handlers/quota.py COUNTED).
COVERED = ("approved", "enrolled")
# Lines of the nagari table in a message (Telegram: 4096 characters; the chart shows all).
MAX_NAGARI_LINES = 70


def number(value: int | float) -> str:
    """1234 -> '1.234' (Indonesian: dot for thousands)."""
    return f"{round(value):,}".replace(",", ".")


def percent(part: int | float, whole: int | float) -> str:
    """12.5 % -> '12,5%' (Indonesian: comma for decimals); '0%' of nothing."""
    if not whole:
        return "0%"
    value = 100 * part / whole
    text = f"{value:.1f}".replace(".", ",")
    return (text[:-2] if text.endswith(",0") else text) + "%"


@dataclass(frozen=True)
class NagariLine:
    code: str
    name: str
    kecamatan: str
    limit: int  # quota of the budget year
    used: int  # approved/enrolled with a decision in the budget year
    backlog: int  # pending: waiting for the operator
    waiting: int  # on the waiting list (quota full)
    has_operator: bool
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def fill(self) -> float:
        return self.used / self.limit if self.limit else 0.0


@dataclass(frozen=True)
class Week:
    start: date  # Monday
    submitted: int
    approved: int
    covered: int  # approved/enrolled in the budget year up to the end of this week


@dataclass(frozen=True)
class Trend:
    weeks: tuple[Week, ...]
    target: int  # the quota (a nagari) or the funded places (the regency)


@dataclass(frozen=True)
class OperatorView:
    """One nagari, as its operator needs it."""

    nagari: str
    year: int
    limit: int
    used: int
    waiting: int
    backlog: int
    oldest_days: int | None  # age of the oldest pending registration
    corrections: int  # waiting for the worker's correction
    decided_this_week: dict[str, int]  # status -> registrations decided since Monday
    trend: Trend
    today: date

    @property
    def left(self) -> int:
        return max(self.limit - self.used, 0)


@dataclass(frozen=True)
class RegencyView:
    """The regency (or every nagari an official may see), for admins and viewers."""

    year: int
    target: int  # 30,000 covered workers
    vulnerable: int
    places: int  # funded places: the sum of the nagari quotas (62 x 100)
    by_status: dict[str, int]
    by_kecamatan: dict[str, dict[str, int]]  # every kecamatan, zeros included
    nagari: tuple[NagariLine, ...]
    oldest_days: int | None
    trend: Trend | None  # only when the trend chart is asked for
    today: date

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def covered(self) -> int:
        return sum(self.by_status.get(s, 0) for s in COVERED)

    @property
    def used(self) -> int:
        return sum(n.used for n in self.nagari)

    @property
    def backlog(self) -> int:
        return self.by_status.get("pending", 0)


def day(value: date) -> str:
    return value.strftime("%d-%m-%Y")


def _decisions(say: Say, counts: dict[str, int]) -> str:
    parts = [f"{say.t(f'report.value.status.{s}')} {number(counts[s])}" for s in STATUS_ORDER if counts.get(s)]
    return ", ".join(parts) or say.t("report.none")


def _oldest(say: Say, days: int | None) -> str:
    return say.t("report.oldest", days=number(days)) if days is not None else ""


def render_operator(say: Say, view: OperatorView, image: str | None) -> Reply:
    text = say.t("official.stats.text", scope=view.nagari, date=day(view.today)) + "\n" + say.t(
        "report.stats.operator", year=view.year,
        limit=number(view.limit), used=number(view.used), left=number(view.left), fill=percent(view.used, view.limit),
        waiting=number(view.waiting), backlog=number(view.backlog), oldest=_oldest(say, view.oldest_days),
        corrections=number(view.corrections), decisions=_decisions(say, view.decided_this_week))
    return Reply("official.stats.text", text, image=image)


def render_regency(say: Say, view: RegencyView, image: str | None) -> Reply:
    kecamatan = "\n".join(
        say.t("report.kecamatan.line", name=name, total=number(sum(counts.values())),
              covered=number(sum(counts.get(s, 0) for s in COVERED)), backlog=number(counts.get("pending", 0)))
        for name, counts in view.by_kecamatan.items())
    lines = sorted(view.nagari, key=lambda n: (n.fill, n.name))
    nagari = [say.t("report.nagari.line", name=n.name, used=number(n.used), limit=number(n.limit),
                    fill=percent(n.used, n.limit), backlog=number(n.backlog),
                    no_operator=say.t("report.nagari.no_operator") if not n.has_operator else "")
              for n in lines[:MAX_NAGARI_LINES]]
    if len(lines) > MAX_NAGARI_LINES:
        nagari.append(say.t("report.nagari.more", count=number(len(lines) - MAX_NAGARI_LINES)))
    without = sum(1 for n in view.nagari if not n.has_operator)
    status = ", ".join(f"{say.t(f'report.value.status.{s}')} {number(view.by_status[s])}"
                       for s in STATUS_ORDER if view.by_status.get(s)) or say.t("report.none")
    text = say.t("official.stats.text", scope=say.t("official.scope.all"), date=day(view.today)) + "\n" + say.t(
        "report.stats.regency", year=view.year, total=number(view.total),
        covered=number(view.covered), target=number(view.target), target_fill=percent(view.covered, view.target),
        vulnerable=number(view.vulnerable), used=number(view.used), places=number(view.places),
        places_fill=percent(view.used, view.places), backlog=number(view.backlog), oldest=_oldest(say, view.oldest_days),
        status=status, kecamatan=kecamatan or "-", nagari="\n".join(nagari) or "-",
        nagari_count=number(len(view.nagari)), without_operator=number(without))
    return Reply("official.stats.text", text, image=image)


def render_chart(say: Say, key: str, image: str) -> Reply:
    """A chart sent on its own, with a one-line caption."""
    return Reply(key, say.t(key), image=image)


# ---------------------------------------------------------------------------------------------
# The funnel: where workers stop

# The funnel counts by form group (1 consent .. SUMMARY_GROUP the summary); the next = submitted.
# (The worker's "Langkah N dari 13" counts questions, not groups: TOTAL_STEPS is not this.)
SUBMITTED = SUMMARY_GROUP + 1
# Flow steps outside the form, by the group they stand at.
FLOW_STEPS = {"language": 0, "summary": SUMMARY_GROUP, "correct_pick": SUMMARY_GROUP}


def group_of(step: str) -> int | None:
    """The step ("Langkah N") a stored conversation step stands at; None when not in the form."""
    if step in FIELDS:
        return FIELDS[step].group
    return FLOW_STEPS.get(step)


@dataclass(frozen=True)
class Funnel:
    """People who started in the last `days` days (drafts live that long, so every one of them
    is still a draft, a registration, or a finished conversation)."""

    days: int
    started: int
    reached: tuple[int, ...]  # reached[g - 1]: people who reached step g (1..SUBMITTED)
    standing: dict[int, int]  # unfinished drafts by the step they stand at
    not_eligible: int  # consented, then neither a draft nor a registration: not eligible, or erased


def funnel_of(days: int, furthest: dict[int, int], standing: dict[int, int], not_eligible: int) -> Funnel:
    """From the number of starters by the furthest step they reached (0: before consent)."""
    started = sum(furthest.values())
    reached = tuple(sum(n for g, n in furthest.items() if g >= step) for step in range(1, SUBMITTED + 1))
    return Funnel(days, started, reached, dict(sorted(standing.items())), not_eligible)


def render_funnel(say: Say, funnel: Funnel) -> Reply:
    steps = "\n".join(
        say.t("report.funnel.line", step=step, label=say.t(f"report.funnel.step.{step}"),
              count=number(count), share=percent(count, funnel.started))
        for step, count in enumerate(funnel.reached, start=1))
    standing = "\n".join(
        say.t("report.funnel.standing_line", step=step, label=say.t(f"report.funnel.step.{step}"), count=number(count))
        for step, count in funnel.standing.items() if count) or say.t("report.none")
    return say.reply("report.funnel", days=funnel.days, started=number(funnel.started), steps=steps,
                     standing=standing, not_eligible=number(funnel.not_eligible))
