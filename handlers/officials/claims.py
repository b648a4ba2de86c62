"""The desk's claim cases: `/kasus` (`/case`), the claims section of `/statistik`, `/ekspor klaim`,
and what waits on the desk's front.

- `/kasus`: the open cases of the official's nagari (all for an admin or viewer), work accidents
  whose 2 x 24-hour report is still due first;
- `/kasus K12`: the case as a report to BPJS needs it (NIK masked, as the desk shows
  registrations), its history, and a button for the next status;
- `/kasus K12 dilaporkan | lengkap | diajukan | dibayar JUMLAH | ditolak ALASAN | tutup ALASAN`
  (`reported`, `complete`, `submitted`, `paid AMOUNT`, `refused REASON`, `closed REASON`): the
  status changes (operators of the case's nagari and admins; viewers read), the audit trail
  records it, and the family is told in their language (keys "claims.family.<status>").
A case of another nagari, or none, gets the one answer "no case K12 in your nagari".
"""

from __future__ import annotations

import csv
import dataclasses
from datetime import date

from sqlalchemy import select

from conversations.claims import JKK_KINDS, NEXT_STATUS, OPEN_STATUSES, render_stats, status_of_word
from conversations.events import Button, Reply
from conversations.i18n import rupiah
from conversations.officials import Command
from conversations.relay import plain
from conversations.understand import amount_text
from conversations.validators import InvalidInput, contains_nik, parse_income
from handlers.claims_cases import (
    EXPORT_HEADERS,
    case_buttons,
    claim_stats,
    deadline_of,
    export_rows,
    family_notice,
    local_day,
    report_text,
    usage_buttons,
)
from handlers.clock import LOCAL_TZ
from handlers.delivery import Outgoing
from handlers.exports_bpjs import export_path
from handlers.officials.desk import Desk
from handlers.officials.files import export, show_stats
from handlers.roles import allowed, scope
from storage.claims import ClaimCase, case_id_of
from storage.models import AuditEvent, Nagari, Registration

# Lines in the list of open cases (Telegram: 4096 characters a message).
MAX_LINES = 30
# `/ekspor klaim`: the cases' file instead of the BPJS list.
EXPORT_WORDS = frozenset({"klaim", "claims", "claim", "kasus", "cases"})
# How long a refusal's or a closing's reason may be (ClaimCase.reason).
REASON_MAX = 300


async def cases(desk: Desk, command: Command) -> None:
    """`/kasus [K12 [status [amount | reason]]]`."""
    if not command.args:
        await list_open(desk)
        return
    case_id = case_id_of(command.args[0])
    if case_id is None:
        desk.answer("claims.official.usage")
        return
    case = await desk.session.get(ClaimCase, case_id)
    if case is None or not allowed(desk.grants, "view", case.nagari_code):
        desk.answer("claims.official.not_found", code=f"K{case_id}")
        return
    if len(command.args) == 1:
        await show(desk, case)
        return
    status = status_of_word(command.args[1])
    if status is None:
        desk.answer("claims.official.usage")
        return
    if not allowed(desk.grants, "decide", case.nagari_code):
        desk.not_allowed()
        return
    words = command.rest.split(maxsplit=2)
    rest = words[2].strip() if len(words) > 2 else ""
    await change(desk, case, status, rest)


async def list_open(desk: Desk) -> None:
    codes = scope(desk.grants, "view")
    query = (select(ClaimCase, Nagari.name).join(Nagari, Nagari.code == ClaimCase.nagari_code)
             .where(ClaimCase.status.in_(OPEN_STATUSES)))
    if codes is not None:
        query = query.where(ClaimCase.nagari_code.in_(sorted(codes)))
    rows = (await desk.session.execute(query)).all()
    if not rows:
        desk.answer("claims.official.list_empty")
        return
    today = desk.now.astimezone(LOCAL_TZ).date()
    lines = []
    for case, name in sorted(rows, key=lambda row: urgency(desk, row[0], today)):
        deadline = deadline_of(desk.svc, case.event_date) if case.kind in JKK_KINDS and case.status == "new" else None
        due = desk.say.t("claims.official.due", deadline=local_day(deadline)) if deadline and deadline >= today else ""
        lines.append(desk.say.t("claims.official.line", code=case.code, kind=desk.say.t(f"claims.kind.{case.kind}"),
                                nagari=name, date=local_day(case.event_date),
                                status=desk.say.t(f"claims.status.{case.status}"), due=due))
    if len(lines) > MAX_LINES:
        lines = [*lines[:MAX_LINES], f"… (+{len(lines) - MAX_LINES})"]
    desk.answer("claims.official.list", count=len(rows), lines="\n".join(lines))


def urgency(desk: Desk, case: ClaimCase, today: date) -> tuple[int, date, int]:
    """Work accidents whose report is still due first (soonest deadline first), then the others
    not yet reported, then the rest; oldest first within each."""
    deadline = deadline_of(desk.svc, case.event_date) if case.kind in JKK_KINDS else None
    if case.status == "new" and deadline is not None and deadline >= today:
        return (0, deadline, case.id or 0)
    return (1 if case.status == "new" else 2, case.opened_at.date(), case.id or 0)


async def show(desk: Desk, case: ClaimCase) -> None:
    registration = await desk.session.get(Registration, case.registration_id)
    text = await report_text(desk.svc, desk.session, desk.say, case, registration)
    history = (await desk.session.execute(
        select(AuditEvent).where(AuditEvent.action.in_(("claim_opened", "claim_status")),
                                 AuditEvent.reference == case.reference)
        .order_by(AuditEvent.at, AuditEvent.id))).scalars().all()
    lines = [desk.say.t("claims.official.history_line", at=desk.local(event.at), actor=event.actor,
                        status=desk.say.t(f"claims.status.{event.details.get('status', 'new')}"))
             for event in history if (event.details or {}).get("case") == case.id]
    buttons: tuple[Button, ...] = ()
    following = NEXT_STATUS.get(case.status)
    if following and allowed(desk.grants, "decide", case.nagari_code):
        buttons = (Button(f"off:case:{case.id}:{following}", desk.say.t(f"btn.claim.status.{following}")),)
    desk.answer("claims.official.details", buttons, report=text, history="\n".join(lines) or "-",
                code=case.code)


async def change(desk: Desk, case: ClaimCase, status: str, rest: str) -> None:
    """A new status: stored, audited, told to the family; the official hears what was done."""
    params: dict[str, object] = {}
    if status == "paid":
        try:
            amount = parse_income(amount_text(rest), minimum=1000) if rest else None
        except InvalidInput:
            amount = None
        if amount is None:
            desk.answer("claims.official.amount_needed", code=case.code)
            return
        case.amount_paid, case.paid_at = amount, desk.now
        params["amount"] = rupiah(amount)
    elif status in ("refused", "closed"):
        if status == "refused" and not rest:
            desk.answer("claims.official.reason_needed", code=case.code)
            return
        if contains_nik(rest):
            desk.answer("claims.official.no_nik")
            return
        case.reason = rest[:REASON_MAX] or None
        params["reason"] = plain(rest[:REASON_MAX]) or "-"
    if status in ("paid", "refused", "closed"):
        case.closed_at = desk.now
    elif case.status in ("paid", "refused", "closed"):
        case.closed_at = None  # reopened (a mistaken status corrected)
    previous, case.status, case.updated_at = case.status, status, desk.now
    await desk.audit("claim_status", case.reference, case=case.id, status=status, previous=previous,
                     reason=f"{case.code}: {status}")
    desk.answer("claims.official.changed", case_buttons(desk.say, case), code=case.code,
                status=desk.say.t(f"claims.status.{status}"))
    buttons = usage_buttons(desk.svc, case) if status == "paid" else ()
    notice = family_notice(desk.svc, case, f"claims.family.{status}", buttons,
                           nagari=await desk.nagari_name(case.nagari_code), **params)
    if notice is None:
        desk.note("claims.official.tell_family")
    else:
        desk.note("claims.official.family_told")
        desk.out.append(notice)


# ---------------------------------------------------------------------------------------------
# /statistik and /ekspor

async def stats_with_claims(desk: Desk, command: Command) -> None:
    """`/statistik`, then the claim cases of the same scope: by kind, status and nagari, what
    was paid and how long it took, how the payouts were used (counts only). Without any case
    in the scope, nothing is added: one message fewer to scroll past."""
    await show_stats(desk, command)
    stats = await claim_stats(desk.session, scope(desk.grants, "view"))
    if not stats.total:
        return
    desk.out.append(Outgoing(desk.who, Reply("claims.stats", render_stats(desk.say.t, stats))))


async def export_with_claims(desk: Desk, command: Command) -> None:
    """`/ekspor klaim [csv]`: the cases as a file; any other `/ekspor` is the BPJS list."""
    if any(word.lower() in EXPORT_WORDS for word in command.args):
        await export_claims(desk, "csv" if any(w.lower() == "csv" for w in command.args) else "xlsx")
        return
    await export(desk, command)


async def export_claims(desk: Desk, fmt: str) -> None:
    if not allowed(desk.grants, "export"):
        desk.not_allowed()
        return
    codes = scope(desk.grants, "export")
    label = "semua" if codes is None else "-".join(sorted(codes))
    rows = await export_rows(desk.svc, desk.session, codes)
    path = export_path(desk.svc, "klaim", label, fmt)
    path.touch(mode=0o600)
    if fmt == "csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(EXPORT_HEADERS)
            for row in rows:
                writer.writerow(["" if v is None else v.strftime("%d-%m-%Y") if isinstance(v, date) else v
                                 for v in row])
    else:
        from openpyxl import Workbook  # loaded by the first spreadsheet, not at start (docs/deploy.md, "Cost")

        book = Workbook()
        sheet = book.active
        sheet.title = "Klaim"
        sheet.append(list(EXPORT_HEADERS))
        for row in rows:
            sheet.append(row)
            for cell in sheet[sheet.max_row]:
                if isinstance(cell.value, date):
                    cell.number_format = "DD-MM-YYYY"
        sheet.freeze_panes = "A2"
        book.save(path)
    path.chmod(0o600)
    await desk.audit("exported", None, kind="claims", scope=label, fmt=fmt, rows=len(rows), file=path.name)
    desk.send(dataclasses.replace(desk.say.reply("claims.export.done", count=len(rows), scope=label),
                                  document=str(path)))


# ---------------------------------------------------------------------------------------------
# The desk's front: what waits

async def waiting_lines(desk: Desk) -> list[str]:
    """Lines for the desk's summary, first: work accidents whose report is due, other open cases."""
    codes = scope(desk.grants, "view")
    query = select(ClaimCase).where(ClaimCase.status.in_(OPEN_STATUSES))
    if codes is not None:
        query = query.where(ClaimCase.nagari_code.in_(sorted(codes)))
    open_cases = list((await desk.session.execute(query)).scalars().all())
    if not open_cases:
        return []
    today = desk.now.astimezone(LOCAL_TZ).date()
    urgent = sorted((c for c in open_cases if urgency(desk, c, today)[0] == 0), key=lambda c: urgency(desk, c, today))
    lines = []
    if urgent:
        first = urgent[0]
        lines.append(desk.say.t("claims.desk.urgent", count=len(urgent), code=first.code,
                                deadline=local_day(deadline_of(desk.svc, first.event_date))))
    lines.append(desk.say.t("claims.desk.open", count=len(open_cases)))
    return lines


def cases_button(desk: Desk) -> Button:
    return Button("off:case", desk.say.t("btn.claim.cases"))
