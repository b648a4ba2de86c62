"""Files: the BPJS export, the import of BPJS's enrolment results, statistics and charts."""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from datetime import date
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from conversations.events import Document, Media, Reply
from conversations.officials import (
    Command,
)
from conversations.reports import day as day_text
from conversations.reports import number
from conversations.reports import render_chart, render_funnel, render_operator, render_regency
from handlers.clock import LOCAL_TZ
from handlers.enrolment_import import ImportFileError, import_enrolments, save_report
from handlers.exports_bpjs import (
    STATUS_WORDS,
    Selection,
    export_audit,
    export_registrations,
    parse_statuses,
)
from handlers.inbound import converse
from handlers.handover import render_ticket_stats, ticket_stats
from handlers.roles import allowed, scope
from handlers.delivery import Outgoing
from handlers.turn import Turn
from handlers.writer import long_read
from handlers.charts import draw_kecamatan, draw_quota_fill, draw_trend
from handlers.stats import chart_path, funnel, operator_view, regency_view
from handlers.links import source_view
from conversations.links import render_source_detail, render_sources

from handlers.officials.admin import nagari_code_of
from handlers.officials.desk import MAX_PROBLEM_LINES, Desk, run

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Export, import, statistics

EXPORT_WORDS = {"csv", "xlsx", "audit", "semua", "all"}


async def export(desk: Desk, command: Command) -> None:
    """`/ekspor [csv] [NAGARI] [STATUS] [audit]`: the BPJS list of approved (and enrolled)
    registrations, or of another status (`menunggu`, `ditolak`, `semua_status`...), or the audit
    trail, as a file."""
    words = [w.lower() for w in command.args]
    status_words = [w for w in words if w in STATUS_WORDS]
    rest = " ".join(w for w in command.args if w.lower() not in EXPORT_WORDS and w.lower() not in STATUS_WORDS)
    if not allowed(desk.grants, "export"):
        desk.not_allowed()
        return
    codes = scope(desk.grants, "export")
    label = "semua" if codes is None else "-".join(sorted(codes))
    if rest:
        code = await nagari_code_of(desk, rest)
        if code is None:
            desk.answer("official.quota.unknown_nagari")
            return
        if not allowed(desk.grants, "export", code):
            desk.not_allowed()
            return
        codes, label = {code}, code
    if "audit" in words:
        path, count = await export_audit(desk.svc, desk.session, codes, label, desk.who, desk.now)
        key = "official.export.audit"
    else:
        statuses = parse_statuses(",".join(status_words)) if status_words else Selection().statuses
        selection = Selection(statuses=statuses, nagari_codes=frozenset(codes) if codes is not None else None)
        fmt = "csv" if "csv" in words else "xlsx"
        path, count = await export_registrations(desk.svc, desk.session, selection, label, fmt, desk.who, desk.now)
        key = "official.export.done"
        if selection.statuses != Selection().statuses:
            key = "report.export.done_status"
        desk.out.append(Outgoing(desk.who, Reply(key, desk.say.t(
            key, count=count, scope=label, status=selection.status_slug), document=str(path))))
        return
    desk.out.append(Outgoing(desk.who, Reply(key, desk.say.t(key, count=count, scope=label), document=str(path))))


async def import_command(desk: Desk, command: Command) -> None:
    """`/impor`: how to send the file; `/impor NAME`: a file placed in the import folder (for
    the terminal and the simulator, which cannot attach files)."""
    if not allowed(desk.grants, "import"):
        desk.not_allowed()
        return
    if not command.args:
        desk.answer("official.import.send_file")
        return
    # Only a bare file name inside the import folder: never a path chosen from chat.
    path = desk.svc.config.resolve(desk.rules.import_dir) / Path(command.args[0]).name
    if not path.is_file():
        desk.answer("official.import.no_file")
        return
    await apply_import(desk, path)


async def apply_import(desk: Desk, path: Path) -> None:
    try:
        report = await import_enrolments(desk.svc, desk.session, path, desk.who, desk.now)
    except ImportFileError as problem:
        desk.answer(problem.key)
        return
    for registration in report.enrolled:
        start = registration.coverage_start
        desk.tell_worker(registration, "official.worker.enrolled", kpj=registration.kpj or "-",
                         start=start.strftime("%d-%m-%Y") if isinstance(start, date) else "-")
    lines = [desk.say.t("official.import.problem", row=p.row, reference=p.reference,
                        reason=desk.say.t(f"official.import.reason.{p.reason}"))
             for p in report.problems[:MAX_PROBLEM_LINES]]
    if len(report.problems) > MAX_PROBLEM_LINES:
        lines.append(desk.say.t("official.import.more", count=len(report.problems) - MAX_PROBLEM_LINES))
    path = save_report(desk.svc, report, desk.say.t)
    counts = Counter(row.result for row in report.rows)
    reply = desk.say.reply("official.import.report", enrolled=len(report.enrolled), unchanged=report.unchanged,
                           rejected=len(report.problems), problems="\n".join(lines) or "-",
                           not_found=counts["not_found"], ambiguous=counts["ambiguous"], invalid=counts["invalid"])
    desk.send(dataclasses.replace(reply, document=str(path)))


async def on_document(turn: Turn, event: Document) -> bool:
    """A file from an admin is an enrolment import; from anyone else the worker flow answers
    it as any other attachment. The uploaded file is deleted either way: it holds personal data
    and its rows are now in the database (or were refused)."""
    try:
        grants = await turn.grants()
        if allowed(grants, "import"):
            await run(turn, grants, lambda desk: apply_import(desk, Path(event.path)))
        else:
            turn.reply(*await converse(turn, event=Media("document")))
        return True
    finally:
        Path(event.path).unlink(missing_ok=True)


STATS_CHARTS = {"kecamatan": "kecamatan", "tren": "trend", "trend": "trend", "minggu": "trend", "weekly": "trend",
                "semua": "all", "all": "all"}
# `/statistik agen`: every agent's and jorong link's registrations (conversations/links.py).
STATS_SOURCES = frozenset({"agen", "agent", "agents", "sumber", "source", "sources", "tautan", "links"})


def with_sources(reply: Reply, sources: str) -> Reply:
    """The statistics' text with where the registrations came from (in the same message)."""
    return dataclasses.replace(reply, text=f"{reply.text}\n\n{sources}")


async def show_stats(desk: Desk, command: Command) -> None:
    """An operator: the nagari's quota, backlog and week, with the trend chart. An admin or
    viewer: the regency with the quota-fill chart (one look answers "how are the nagari doing");
    `/statistik kecamatan`, `/statistik tren` or `/statistik semua` add the kecamatan and weekly
    trend charts. An admin also gets the registration funnel. Everyone sees where the
    registrations came from (directly, a nagari's poster, a jorong's or an agent's link);
    `/statistik agen` lists every agent and jorong link.

    Read and drawn on the long-read thread (handlers/writer.long_read): over a province that
    takes seconds, during which this process keeps answering webhooks."""

    async def figures(session: AsyncSession) -> list[Outgoing]:
        reading = dataclasses.replace(desk, session=session, out=[], notes=[])
        await stats_of(reading, command)
        return reading.out

    desk.out.extend(await long_read(desk.svc, figures, desk.session))


async def stats_of(desk: Desk, command: Command) -> None:
    """`show_stats`'s answers, read through `desk`'s session."""
    svc, say = desk.svc, desk.say
    codes = scope(desk.grants, "view")
    today = desk.now.astimezone(LOCAL_TZ).date()
    detail = any(w.lower() in STATS_SOURCES for w in command.args)
    if codes is not None:
        for code in sorted(codes):
            view = await operator_view(svc, desk.session, code)
            chart = draw_trend(say, view.trend, say.t("report.chart.trend.nagari", nagari=view.nagari),
                               say.t("report.chart.trend.quota", limit=number(view.limit)), today,
                               chart_path(svc, "trend"))
            sources = await source_view(desk.session, svc, {code})
            desk.out.append(Outgoing(desk.who, with_sources(render_operator(say, view, str(chart)),
                                                            render_sources(say, sources))))
            if detail:
                desk.out.append(Outgoing(desk.who, render_source_detail(say, sources)))
        return
    asked = {STATS_CHARTS[w.lower()] for w in command.args if w.lower() in STATS_CHARTS}
    extra = {"kecamatan", "trend"} if "all" in asked else asked
    view = await regency_view(svc, desk.session, None, with_trend="trend" in extra)
    fill = draw_quota_fill(say, view.nagari, view.year, day_text(today), chart_path(svc, "quota"))
    sources = await source_view(desk.session, svc, None)
    desk.out.append(Outgoing(desk.who, with_sources(render_regency(say, view, str(fill)), render_sources(say, sources))))
    if detail:
        desk.out.append(Outgoing(desk.who, render_source_detail(say, sources)))
    if "kecamatan" in extra:
        kecamatan = draw_kecamatan(say, view.by_kecamatan, day_text(today), chart_path(svc, "kecamatan"))
        desk.out.append(Outgoing(desk.who, render_chart(say, "report.chart.kecamatan.caption", str(kecamatan))))
    if view.trend is not None:
        trend_chart = draw_trend(say, view.trend, svc.config.regency.name,
                                 say.t("report.chart.trend.places", places=number(view.places),
                                       nagari=number(len(view.nagari))), today, chart_path(svc, "trend"))
        desk.out.append(Outgoing(desk.who, render_chart(say, "report.chart.trend.caption", str(trend_chart))))
    if any(g.role == "admin" for g in desk.grants):
        desk.out.append(Outgoing(desk.who, render_funnel(say, await funnel(svc, desk.session))))
        desk.out.append(Outgoing(desk.who, render_ticket_stats(say, await ticket_stats(desk.session),
                                                               say.t("handover.desk.regency_short"))))
