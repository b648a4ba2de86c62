"""Each dashboard page as words, numbers, charts and tables, from the figures of
handlers/dashboard/figures.py, in the official's language. Pure: no I/O, no request.

A page is its key figures (the large numbers at the top), its charts (SVG, svg.py) and its
tables; the template (templates/page.html) lays them out and the downloads (tables.py) write the
same tables. Numbers are written the Indonesian way in both languages, as in the chat ("1.234",
"12,5%").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from markupsafe import Markup

from conversations.links import SOURCES, SourceView
from conversations.reports import COVERED, STATUS_ORDER, SUBMITTED, NagariLine, Trend, day, number, percent
from handlers.clock import LOCAL_TZ
from handlers.dashboard.access import PREFIX
from handlers.dashboard.figures import (
    CHANNELS,
    Board,
    Campaigns,
    DecisionTimes,
    FunnelPage,
    Health,
    NagariPage,
    Overview,
)
from handlers.services import Services

import bot.dashboard.svg as svg
from bot.dashboard.tables import Cell, Column, Table

T = Callable[..., str]
# Campaigns drawn as bars (the table lists every one).
CHARTED_CAMPAIGNS = 10


@dataclass(frozen=True)
class Figure:
    key: str  # data-figure in the page (the tests read it)
    label: str
    value: int | float | None
    text: str
    note: str = ""


@dataclass(frozen=True)
class Chart:
    svg: Markup
    caption: str


@dataclass
class Page:
    name: str
    title: str
    intro: str = ""
    figures: list[Figure] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    back: tuple[str, str] | None = None  # (href, text)


def count(value: int | float | None) -> Cell:
    return Cell(value, number(value) if value is not None else "-")


def text(value: str | None, href: str | None = None) -> Cell:
    return Cell(value, value or "-", href)


def share(part: int | float, whole: int | float) -> Cell:
    """A percentage: its value a number rounded to 0.1 (the files), its text as the chat writes it."""
    return Cell(round(100 * part / whole, 1) if whole else 0.0, percent(part, whole), meter=(part, whole))


def local_day(moment: datetime | None) -> str:
    return day(moment.astimezone(LOCAL_TZ).date()) if moment else "-"


def hours_text(t: T, hours: float | None) -> str:
    """A waiting time in hours up to two days, in days beyond: "5 jam", "3,5 hari"."""
    if hours is None:
        return "-"
    if hours < 48:
        return t("dashboard.unit.hours", n=number(hours))
    days = f"{hours / 24:.1f}".replace(".", ",")
    return t("dashboard.unit.days", n=days[:-2] if days.endswith(",0") else days)


def hours_cell(t: T, hours: float | None) -> Cell:
    return Cell(round(hours, 1) if hours is not None else None, hours_text(t, hours))


def days_cell(t: T, days: int | None) -> Cell:
    return Cell(days, t("dashboard.unit.days", n=number(days)) if days is not None else "-")


def status_name(t: T, status: str) -> str:
    return t(f"report.value.status.{status}")


def nagari_href(code: str) -> str:
    return f"{PREFIX}/nagari/{code}"


def summary_table(t: T, figures: list[Figure]) -> Table:
    """The key figures as a table: what the top of the page says, for the files and the printout."""
    table = Table("ringkasan", t("dashboard.table.summary"),
                  [Column("measure", t("dashboard.col.measure")), Column("value", t("dashboard.col.value"), True)])
    table.rows = [[text(f.label), Cell(f.value, f.text)] for f in figures]
    table.shown = False
    return table


# -- shared pieces ----------------------------------------------------------------------------------
def trend_chart(t: T, trend: Trend, scope: str) -> Chart:
    chart = svg.weekly(t("dashboard.chart.trend", scope=scope), trend.weeks, t("dashboard.chart.submitted"),
                       t("dashboard.chart.approved"), lambda w: w.start.strftime("%d-%m"),
                       lambda peak: t("dashboard.chart.peak", n=number(peak)))
    return Chart(chart, t("dashboard.chart.trend_caption"))


def trend_table(t: T, trend: Trend) -> Table:
    table = Table("tren", t("dashboard.table.trend"), [
        Column("week", t("dashboard.col.week")), Column("submitted", t("dashboard.col.submitted"), True),
        Column("approved", t("dashboard.col.approved"), True), Column("covered", t("dashboard.col.covered_total"), True)])
    table.rows = [[text(day(w.start)), count(w.submitted), count(w.approved), count(w.covered)] for w in trend.weeks]
    return table


def status_columns(t: T) -> list[Column]:
    return [Column(status, status_name(t, status), True) for status in STATUS_ORDER]


def by_status_chart(t: T, title: str, groups: list[tuple[str, dict[str, int]]]) -> Chart:
    present = [s for s in STATUS_ORDER if any(counts.get(s) for _, counts in groups)]
    rows = [svg.Bar(name, tuple(svg.Segment(counts.get(s, 0), svg.STATUS_COLOURS[s], status_name(t, s))
                                for s in present),
                    t("dashboard.chart.total_covered", total=number(sum(counts.values())),
                      covered=number(sum(counts.get(s, 0) for s in COVERED))))
            for name, counts in groups]
    legend = [(status_name(t, s), svg.STATUS_COLOURS[s]) for s in present]
    return Chart(svg.bars(title, rows, legend), t("dashboard.chart.by_status_caption"))


def by_status_table(t: T, name: str, title: str, first: str, groups: list[tuple[str, dict[str, int]]]) -> Table:
    table = Table(name, title, [Column("name", first), Column("total", t("dashboard.col.total"), True),
                                Column("covered", t("dashboard.col.covered"), True), *status_columns(t)])
    table.rows = [[text(label), count(sum(counts.values())), count(sum(counts.get(s, 0) for s in COVERED)),
                   *[count(counts.get(s, 0)) for s in STATUS_ORDER]] for label, counts in groups]
    return table


# -- overview -----------------------------------------------------------------------------------
def overview(t: T, svc: Services, figures: Overview, lang: str) -> Page:
    view = figures.view
    by = view.by_status
    oldest = t("dashboard.fig.oldest", days=number(view.oldest_days)) if view.oldest_days is not None else ""
    key = [
        Figure("registrations", t("dashboard.fig.registrations"), view.total, number(view.total),
               t("dashboard.fig.year", year=view.year)),
        Figure("enrolled", t("dashboard.fig.enrolled"), by.get("enrolled", 0), number(by.get("enrolled", 0))),
        Figure("approved", t("dashboard.fig.approved"), by.get("approved", 0), number(by.get("approved", 0))),
        Figure("pending", t("dashboard.fig.pending"), view.backlog, number(view.backlog), oldest),
        Figure("covered", t("dashboard.fig.covered"), view.covered, number(view.covered),
               t("dashboard.fig.of_target", target=number(view.target), share=percent(view.covered, view.target))),
        Figure("vulnerable", t("dashboard.fig.vulnerable"), view.vulnerable, number(view.vulnerable),
               t("dashboard.fig.vulnerable_share", share=percent(view.covered, view.vulnerable))),
        Figure("places", t("dashboard.fig.places"), view.used, number(view.used),
               t("dashboard.fig.of_places", places=number(view.places), share=percent(view.used, view.places))),
    ]
    progress = svg.bars(t("dashboard.chart.progress"), [
        svg.Bar(t("dashboard.chart.to_target", target=number(view.target)),
                (svg.Segment(view.covered, svg.BLUE),), _of(view.covered, view.target), view.target or 1),
        svg.Bar(t("dashboard.chart.to_vulnerable", vulnerable=number(view.vulnerable)),
                (svg.Segment(view.covered, svg.BLUE),), _of(view.covered, view.vulnerable), view.vulnerable or 1),
        svg.Bar(t("dashboard.chart.to_places", places=number(view.places)),
                (svg.Segment(view.used, svg.APPROVED_COLOUR),), _of(view.used, view.places), view.places or 1)])
    kecamatan = list(view.by_kecamatan.items())
    titles = {c.id: c.title(lang) for c in svc.rules.categories}
    categories = sorted(((titles.get(c, c), counts) for c, counts in figures.categories.items()),
                        key=lambda item: (-sum(item[1].values()), item[0]))
    charts = [Chart(progress, t("dashboard.chart.progress_caption", source=svc.config.regency.name))]
    tables = [summary_table(t, key)]
    if view.trend is not None:
        charts.append(trend_chart(t, view.trend, svc.config.regency.name))
        tables.append(trend_table(t, view.trend))
    charts += [by_status_chart(t, t("dashboard.chart.kecamatan"), kecamatan),
               by_status_chart(t, t("dashboard.chart.categories"), categories)]
    tables += [by_status_table(t, "kecamatan", t("dashboard.table.kecamatan"), t("dashboard.col.kecamatan"), kecamatan),
               by_status_table(t, "pekerjaan", t("dashboard.table.categories"), t("dashboard.col.category"),
                               categories)]
    return Page("overview", t("dashboard.page.overview"), t("dashboard.intro.overview", target=number(view.target),
                                                                   vulnerable=number(view.vulnerable)),
                key, charts, tables)


def _of(part: int, whole: int) -> str:
    return f"{number(part)} / {number(whole)} ({percent(part, whole)})"


# -- the nagari board -----------------------------------------------------------------------------
def board_table(t: T, lines: list[tuple[NagariLine, int | None, int]], name: str = "nagari") -> Table:
    table = Table(name, t("dashboard.table.board"), [
        Column("nagari", t("dashboard.col.nagari")), Column("kecamatan", t("dashboard.col.kecamatan")),
        Column("used", t("dashboard.col.used"), True), Column("limit", t("dashboard.col.limit"), True),
        Column("fill", t("dashboard.col.fill"), True), Column("waiting", t("dashboard.col.waiting"), True),
        Column("pending", t("dashboard.col.pending"), True), Column("oldest", t("dashboard.col.oldest"), True),
        Column("operator", t("dashboard.col.operator")), Column("tickets", t("dashboard.col.tickets"), True)],
        sortable=True)
    table.rows = [[text(line.name, nagari_href(line.code)), text(line.kecamatan), count(line.used), count(line.limit),
                   share(line.used, line.limit), count(line.waiting), count(line.backlog), days_cell(t, oldest),
                   text(t("dashboard.yes") if line.has_operator else t("dashboard.no")), count(tickets)]
                  for line, oldest, tickets in lines]
    return table


def board(t: T, figures: Board) -> Page:
    view = figures.view
    lines = [(b.line, b.oldest_days, b.open_tickets) for b in figures.lines]
    without = sum(1 for b in figures.lines if not b.line.has_operator)
    key = [
        Figure("nagari", t("dashboard.fig.nagari"), len(lines), number(len(lines))),
        Figure("places", t("dashboard.fig.places"), view.used, number(view.used),
               t("dashboard.fig.of_places", places=number(view.places), share=percent(view.used, view.places))),
        Figure("waiting", t("dashboard.fig.waiting"), sum(b.line.waiting for b in figures.lines),
               number(sum(b.line.waiting for b in figures.lines))),
        Figure("pending", t("dashboard.fig.pending"), view.backlog, number(view.backlog)),
        Figure("without_operator", t("dashboard.fig.without_operator"), without, number(without)),
        Figure("tickets", t("dashboard.fig.open_tickets"), sum(b.open_tickets for b in figures.lines),
               number(sum(b.open_tickets for b in figures.lines))),
    ]
    return Page("board", t("dashboard.page.board"), t("dashboard.intro.board", year=view.year), key, [],
                [board_table(t, lines)])


# -- one nagari ---------------------------------------------------------------------------------------
def nagari(t: T, figures: NagariPage) -> Page:
    view = figures.view
    decided = sum(view.decided_this_week.values())
    key = [
        Figure("used", t("dashboard.fig.quota_used"), view.used, number(view.used),
               t("dashboard.fig.of_quota", limit=number(view.limit), share=percent(view.used, view.limit),
                 year=view.year)),
        Figure("left", t("dashboard.fig.left"), view.left, number(view.left)),
        Figure("waiting", t("dashboard.fig.waiting"), view.waiting, number(view.waiting)),
        Figure("pending", t("dashboard.fig.pending"), view.backlog, number(view.backlog),
               t("dashboard.fig.oldest", days=number(view.oldest_days)) if view.oldest_days is not None else ""),
        Figure("corrections", t("dashboard.fig.corrections"), view.corrections, number(view.corrections)),
        Figure("decided_week", t("dashboard.fig.decided_week"), decided, number(decided)),
        Figure("median", t("dashboard.fig.median"), _hours(figures.times.median_hours),
               hours_text(t, figures.times.median_hours),
               t("dashboard.fig.p90", time=hours_text(t, figures.times.p90_hours))),
        Figure("operator", t("dashboard.fig.operator"), 1 if figures.has_operator else 0,
               t("dashboard.yes") if figures.has_operator else t("dashboard.no")),
        Figure("tickets", t("dashboard.fig.open_tickets"), figures.open_tickets, number(figures.open_tickets)),
    ]
    steps = nagari_funnel(t, figures)
    funnel_chart = svg.bars(t("dashboard.chart.nagari_funnel", nagari=view.nagari), [
        svg.Bar(label, (svg.Segment(value, colour),), _of(value, figures.submitted), figures.submitted or 1)
        for label, value, colour in steps])
    funnel_table = Table("alur", t("dashboard.table.nagari_funnel"), [
        Column("step", t("dashboard.col.step")), Column("count", t("dashboard.col.count"), True),
        Column("share", t("dashboard.col.share_submitted"), True)])
    funnel_table.rows = [[text(label), count(value), share(value, figures.submitted)] for label, value, _ in steps]
    status_table = Table("status", t("dashboard.table.status"), [
        Column("status", t("dashboard.col.status")), Column("count", t("dashboard.col.count"), True)])
    status_table.rows = [[text(status_name(t, s)), count(figures.by_status.get(s, 0))] for s in STATUS_ORDER]
    return Page("nagari", t("dashboard.page.nagari", nagari=view.nagari),
                t("dashboard.intro.nagari", kecamatan=figures.kecamatan, code=figures.code),
                key, [trend_chart(t, view.trend, view.nagari), Chart(funnel_chart, t("dashboard.chart.nagari_funnel_caption"))],
                [summary_table(t, key), trend_table(t, view.trend), funnel_table, status_table],
                back=(f"{PREFIX}/nagari", t("dashboard.page.board")))


def nagari_funnel(t: T, figures: NagariPage) -> list[tuple[str, int, str]]:
    """Submitted, decided (neither pending nor awaiting a correction), covered, enrolled."""
    by = figures.by_status
    decided = figures.submitted - by.get("pending", 0) - by.get("correction", 0)
    return [(t("dashboard.funnel.submitted"), figures.submitted, svg.SUBMITTED_COLOUR),
            (t("dashboard.funnel.decided"), decided, svg.BLUE),
            (t("dashboard.funnel.covered"), figures.covered, svg.STATUS_COLOURS["approved"]),
            (t("dashboard.funnel.enrolled"), by.get("enrolled", 0), svg.STATUS_COLOURS["enrolled"])]


def _hours(hours: float | None) -> float | None:
    return round(hours, 1) if hours is not None else None


# -- the funnel ---------------------------------------------------------------------------------------
def funnel(t: T, figures: FunnelPage) -> Page:
    total = figures.total
    submitted = total.reached[SUBMITTED - 1] if total.reached else 0
    key = [
        Figure("started", t("dashboard.fig.started"), total.started, number(total.started),
               t("dashboard.fig.window", days=total.days)),
        Figure("submitted", t("dashboard.fig.submitted"), submitted, number(submitted),
               percent(submitted, total.started)),
        Figure("approved", t("dashboard.fig.funnel_approved"), figures.approved_total, number(figures.approved_total),
               percent(figures.approved_total, total.started)),
        Figure("enrolled", t("dashboard.fig.enrolled"), figures.enrolled_total, number(figures.enrolled_total),
               percent(figures.enrolled_total, total.started)),
        Figure("not_eligible", t("dashboard.fig.not_eligible"), total.not_eligible, number(total.not_eligible)),
    ]
    steps = [(t(f"report.funnel.step.{step}"), count_) for step, count_ in enumerate(total.reached, start=1)]
    steps += [(t("dashboard.funnel.covered"), figures.approved_total),
              (t("dashboard.funnel.enrolled"), figures.enrolled_total)]
    chart = svg.bars(t("dashboard.chart.funnel"), [
        svg.Bar(f"{index}. {label}", (svg.Segment(value, svg.BLUE),), _of(value, total.started),
                total.started or 1) for index, (label, value) in enumerate(steps, start=1)])
    table = Table("corong", t("dashboard.table.funnel"), [
        Column("step", t("dashboard.col.step_no"), True), Column("label", t("dashboard.col.step")),
        Column("reached", t("dashboard.col.reached"), True), Column("share", t("dashboard.col.share_started"), True),
        Column("lost", t("dashboard.col.lost"), True), Column("lost_share", t("dashboard.col.lost_share"), True)])
    for index, (label, value) in enumerate(steps, start=1):
        following = steps[index][1] if index < len(steps) else None
        lost = value - following if following is not None else None
        table.rows.append([count(index), text(label), count(value), share(value, total.started), count(lost),
                           share(lost, value) if lost is not None else Cell(None, "-")])
    channels = [c for c in CHANNELS if figures.by_channel[c].started or c != "other"]
    by_channel = Table("kanal", t("dashboard.table.channels"), [
        Column("step", t("dashboard.col.step")),
        *[Column(c, t(f"dashboard.channel.{c}"), True) for c in channels]])
    by_channel.rows.append([text(t("dashboard.funnel.started"))] + [count(figures.by_channel[c].started)
                                                                  for c in channels])
    for index, label in enumerate((label for label, _ in steps[:len(total.reached)]), start=0):
        by_channel.rows.append([text(f"{index + 1}. {label}")] + [count(figures.by_channel[c].reached[index])
                                                                 for c in channels])
    by_channel.rows.append([text(t("dashboard.funnel.covered"))] + [count(figures.approved[c]) for c in channels])
    by_channel.rows.append([text(t("dashboard.funnel.enrolled"))] + [count(figures.enrolled[c]) for c in channels])
    standing = Table("draf", t("dashboard.table.standing"), [
        Column("step", t("dashboard.col.step")), Column("drafts", t("dashboard.col.drafts"), True)])
    standing.rows = [[text(f"{step}. {t(f'report.funnel.step.{step}')}"), count(n)]
                     for step, n in total.standing.items() if n]
    return Page("funnel", t("dashboard.page.funnel"), t("dashboard.intro.funnel", days=total.days), key,
                [Chart(chart, t("dashboard.chart.funnel_caption"))], [summary_table(t, key), table, by_channel, standing])


# -- desk health ----------------------------------------------------------------------------------------
def times_figures(t: T, times: DecisionTimes, days: int) -> list[Figure]:
    return [
        Figure("decided", t("dashboard.fig.decided", days=days), times.decided, number(times.decided)),
        Figure("median", t("dashboard.fig.median"), _hours(times.median_hours), hours_text(t, times.median_hours)),
        Figure("p90", t("dashboard.fig.p90_label"), _hours(times.p90_hours), hours_text(t, times.p90_hours)),
    ]


def health(t: T, figures: Health) -> Page:
    tickets = figures.tickets
    key = times_figures(t, figures.overall, figures.days)
    key += [
        Figure("tickets_open", t("dashboard.fig.open_tickets"), tickets.open, number(tickets.open)),
        Figure("tickets_waiting", t("dashboard.fig.tickets_waiting"), tickets.waiting, number(tickets.waiting)),
        Figure("first_answer", t("dashboard.fig.first_answer"),
               round(tickets.first_answer_minutes, 1) if tickets.first_answer_minutes is not None else None,
               t("dashboard.unit.minutes", n=number(tickets.first_answer_minutes))
               if tickets.first_answer_minutes is not None else "-"),
    ]
    if figures.reminders is not None:
        reminders = figures.reminders
        key += [
            Figure("reminders_due", t("dashboard.fig.reminders_due"), reminders.due, number(reminders.due),
                   t("dashboard.fig.reminders_later", n=number(reminders.later))),
            Figure("reminders_sent", t("dashboard.fig.reminders_sent"), reminders.sent_week,
                   number(reminders.sent_week), t("dashboard.fig.reminders_failed", n=number(reminders.failed_week))),
        ]
    table = Table("layanan", t("dashboard.table.health", days=figures.days), [
        Column("nagari", t("dashboard.col.nagari")), Column("kecamatan", t("dashboard.col.kecamatan")),
        Column("decided", t("dashboard.col.decided"), True), Column("median", t("dashboard.col.median_hours"), True),
        Column("p90", t("dashboard.col.p90_hours"), True), Column("pending", t("dashboard.col.pending"), True),
        Column("oldest", t("dashboard.col.oldest"), True), Column("tickets", t("dashboard.col.tickets"), True)],
        sortable=True)
    table.rows = [[text(h.line.name, nagari_href(h.line.code)), text(h.line.kecamatan), count(h.times.decided),
                   hours_cell(t, h.times.median_hours), hours_cell(t, h.times.p90_hours), count(h.line.backlog),
                   days_cell(t, h.oldest_days), count(h.open_tickets)] for h in figures.lines]
    slowest = sorted((h for h in figures.lines if h.times.p90_hours is not None),
                     key=lambda h: -(h.times.p90_hours or 0))[:10]
    charts = []
    if slowest:
        top = max(h.times.p90_hours or 0 for h in slowest) or 1
        charts.append(Chart(svg.bars(t("dashboard.chart.slowest"), [
            svg.Bar(h.line.name, (svg.Segment(h.times.median_hours or 0, svg.BLUE, t("dashboard.fig.median")),
                                  svg.Segment((h.times.p90_hours or 0) - (h.times.median_hours or 0), "#E69F00",
                                              t("dashboard.fig.p90_label"))),
                    f"{hours_text(t, h.times.median_hours)} / {hours_text(t, h.times.p90_hours)}", top)
            for h in slowest], [(t("dashboard.fig.median"), svg.BLUE), (t("dashboard.fig.p90_label"), "#E69F00")]),
            t("dashboard.chart.slowest_caption")))
    return Page("health", t("dashboard.page.health"), t("dashboard.intro.health", days=figures.days), key, charts,
                [summary_table(t, key), table])


# -- campaigns ----------------------------------------------------------------------------------------
def campaigns(t: T, figures: Campaigns) -> Page:
    lines = figures.lines
    key = [
        Figure("campaigns", t("dashboard.fig.campaigns"), len(lines), number(len(lines))),
        Figure("sent", t("dashboard.fig.sent"), sum(c.sent for c in lines), number(sum(c.sent for c in lines))),
        Figure("delivered", t("dashboard.fig.delivered"), sum(c.delivered for c in lines),
               number(sum(c.delivered for c in lines))),
        Figure("read", t("dashboard.fig.read"), sum(c.read for c in lines), number(sum(c.read for c in lines))),
        Figure("failed", t("dashboard.fig.failed"), sum(c.failed for c in lines), number(sum(c.failed for c in lines))),
    ]
    table = Table("kampanye", t("dashboard.table.campaigns"), [
        Column("id", t("dashboard.col.campaign"), True), Column("state", t("dashboard.col.state")),
        Column("created", t("dashboard.col.created")), Column("finished", t("dashboard.col.finished")),
        Column("total", t("dashboard.col.recipients"), True), Column("queued", t("dashboard.col.queued"), True),
        Column("sent", t("dashboard.col.sent"), True), Column("delivered", t("dashboard.col.delivered"), True),
        Column("read", t("dashboard.col.read"), True), Column("failed", t("dashboard.col.failed"), True),
        Column("skipped", t("dashboard.col.skipped"), True), Column("cost", t("dashboard.col.cost"))], sortable=True)
    for c in lines:
        queued = c.states.get("queued", 0) + c.states.get("sending", 0)
        table.rows.append([Cell(c.id, f"#{c.id}"), text(t(f"dashboard.campaign_state.{c.state}")),
                           text(local_day(c.created)), text(local_day(c.finished) if c.finished else None),
                           count(c.total), count(queued), count(c.sent), count(c.delivered), count(c.read),
                           count(c.failed), count(c.states.get("skipped", 0)), text(c.cost)])
    charts = []
    if lines:
        legend = [(t("dashboard.chart.read"), "#009E73"), (t("dashboard.chart.delivered"), "#56B4E9"),
                  (t("dashboard.chart.sent_only"), "#BBBBBB"), (t("dashboard.chart.failed"), "#D55E00")]
        rows = [svg.Bar(t("dashboard.chart.campaign", id=c.id, date=local_day(c.created)), (
            svg.Segment(c.read, "#009E73"), svg.Segment(c.delivered - c.read, "#56B4E9"),
            svg.Segment(max(c.sent - c.delivered - c.wa_failed, 0), "#BBBBBB"), svg.Segment(c.failed, "#D55E00")),
            _of(c.sent, c.total), max(c.total, 1)) for c in lines[:CHARTED_CAMPAIGNS]]
        charts.append(Chart(svg.bars(t("dashboard.chart.campaigns"), rows, legend), t("dashboard.chart.campaigns_caption")))
    return Page("campaigns", t("dashboard.page.campaigns"), t("dashboard.intro.campaigns"), key, charts,
                [summary_table(t, key), table])


# -- sources ------------------------------------------------------------------------------------------
def sources(t: T, view: SourceView) -> Page:
    totals = view.by_kind()
    whole = sum(total for total, _ in totals.values())
    key = [Figure(kind, t(f"link.stats.kind.{kind}"), total, number(total), percent(total, whole))
           for kind, (total, _) in totals.items()]
    kinds = Table("sumber", t("dashboard.table.source_kinds"), [
        Column("kind", t("dashboard.col.source")), Column("total", t("dashboard.col.total"), True),
        Column("covered", t("dashboard.col.covered"), True), Column("share", t("dashboard.col.share"), True)])
    kinds.rows = [[text(t(f"link.stats.kind.{kind}")), count(total), count(covered), share(total, whole)]
                  for kind, (total, covered) in totals.items()]
    links = Table("tautan", t("dashboard.table.links"), [
        Column("kind", t("dashboard.col.source")), Column("nagari", t("dashboard.col.nagari")),
        Column("jorong", t("dashboard.col.jorong")), Column("agent", t("dashboard.col.agent")),
        Column("total", t("dashboard.col.total"), True), Column("covered", t("dashboard.col.covered"), True)],
        sortable=True)
    links.rows = [[text(t(f"link.stats.kind.{line.kind}")), text(line.nagari), text(line.jorong), text(line.agent),
                   count(line.total), count(line.covered)]
                  for line in sorted(view.lines, key=lambda line: (-line.total, line.nagari or ""))
                  if line.kind != "direct"]
    agents = Table("agen", t("dashboard.table.agents"), [
        Column("agent", t("dashboard.col.agent")), Column("total", t("dashboard.col.total"), True),
        Column("covered", t("dashboard.col.covered"), True), Column("nagari", t("dashboard.col.nagari_count"), True)])
    agents.rows = [[text(name), count(total), count(covered), count(places)]
                   for name, total, covered, places in view.agents()]
    chart = svg.bars(t("dashboard.chart.sources"), [
        svg.Bar(t(f"link.stats.kind.{kind}"), (svg.Segment(covered, svg.STATUS_COLOURS["enrolled"]),
                                               svg.Segment(total - covered, svg.SUBMITTED_COLOUR)),
                _of(total, whole), whole or 1) for kind, (total, covered) in totals.items()],
        [(t("dashboard.col.covered"), svg.STATUS_COLOURS["enrolled"]), (t("dashboard.chart.other"), svg.SUBMITTED_COLOUR)])
    assert set(totals) == set(SOURCES)
    return Page("sources", t("dashboard.page.sources"), t("dashboard.intro.sources"), key,
                [Chart(chart, t("dashboard.chart.sources_caption"))], [kinds, links, agents])
