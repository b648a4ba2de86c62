"""Use-case: the list of registrations for the BPJS TK branch (XLSX and CSV), and the audit trail
(CSV). One row builder and one column set (`officials.export_columns` in config.yaml) serve the
officials' `/ekspor` in chat and the server's `python -m bot export`.

- XLSX: NIK, phone and KPJ are text cells (number_format "@", str values): Excel keeps only 15
  digits of a number and drops the "+" of a phone. Dates are date cells shown DD-MM-YYYY, amounts
  are numbers; the header is bold and frozen, with a filter and column widths.
- CSV: plain RFC 4180 (CRLF line ends, quotes only where needed), UTF-8 with a byte-order mark
  (Excel then reads it as UTF-8), NIK and phone as plain digit strings: a file for scripts,
  pandas and import tools. Dates are DD-MM-YYYY as in the XLSX, amounts plain integers.
- Values are Indonesian labels (sex, status, relation, work, funding source), not ids.
- By default only approved (and enrolled) registrations: what BPJS may receive. Any other
  selection is named in the file name.

Files hold full NIKs: chat exports are written under `export_dir`, readable by the bot's user
only, and every export is recorded in the audit trail.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.links import source_label
from conversations.officials import TEXT_FIELDS, ExportColumn
from conversations.rules import Contribution
from handlers.clock import LOCAL_TZ
from handlers.quota import COUNTED
from handlers.reminders import add_months, reminder_rules
from handlers.services import Services
from handlers.writer import long_read
from storage.links import RecruitmentLink
from storage.models import AuditEvent, Nagari, Registration
from storage.repo import Repository

# Village schemes buy work-accident and death cover (JKK, JKM); JHT is for self-paying workers.
PROGRAMMES = "JKK+JKM"
# Funding sources the programme pays from (APB Nagari, the regency's APBD): the lowest bracket.
PROGRAMME_FUNDED = frozenset({"apb_nagari", "apbd"})
DATE_FORMAT = "DD-MM-YYYY"
MONEY_FORMAT = "#,##0"
DATE_FIELDS = frozenset({"birth_date", "decided_at", "coverage_start", "coverage_end", "created_at"})
MONEY_FIELDS = frozenset({"income", "income_base", "monthly_contribution", "contribution_base", "contribution"})
# Column widths in characters (a NIK is 16 digits; names and addresses are long).
WIDTHS = {"reference": 12, "status": 22, "nik": 19, "name": 28, "sex": 13, "birth_date": 12,
          "nagari_code": 14, "nagari": 22, "kecamatan": 20, "jorong": 18, "address": 48, "phone": 16,
          "category": 20, "income": 14, "income_base": 14, "monthly_contribution": 12, "contribution_base": 13,
          "contribution": 12, "programmes": 10, "funding_source": 15, "heir_name": 26, "heir_relation": 16,
          "decided_at": 13, "kpj": 16, "coverage_start": 13, "coverage_end": 13, "created_at": 12, "flags": 30,
          "source": 18}
STATUSES = ("pending", "correction", "waiting", "approved", "enrolled", "rejected", "withdrawn",
            "deletion_requested")
# How a selection of statuses is named in a file name (Indonesian, as officials read it).
STATUS_SLUGS = {"approved": "disetujui", "enrolled": "terdaftar", "pending": "menunggu",
                "waiting": "daftar-tunggu", "rejected": "ditolak", "correction": "perbaikan",
                "withdrawn": "ditarik", "deletion_requested": "minta-hapus"}
# Words for a status selection, typed after /ekspor or given to --status.
STATUS_WORDS = {
    "approved": "approved", "disetujui": "approved", "setuju": "approved",
    "enrolled": "enrolled", "terdaftar": "enrolled",
    "pending": "pending", "menunggu": "pending",
    "waiting": "waiting", "tunggu": "waiting", "daftar_tunggu": "waiting",
    "rejected": "rejected", "ditolak": "rejected",
    "correction": "correction", "perbaikan": "correction",
    "withdrawn": "withdrawn", "ditarik": "withdrawn",
    "deletion_requested": "deletion_requested",
    "all": "all", "semua_status": "all",
}


# ---------------------------------------------------------------------------------------------
# The programme's contribution

def programme_contribution(svc: Services, day: date) -> Contribution:
    """The contribution base and monthly amount the programme pays for one worker on `day`
    (config.yaml `programme.funded_base`: the lowest bracket by default, Rp 1.000.000 -> Rp 16.800
    a month); one rule for the worker, the reminders, the exports and the statistics."""
    return svc.rules.programme_contribution(day)


# ---------------------------------------------------------------------------------------------
# Which registrations

class SelectionError(ValueError):
    """A status, nagari or date an export cannot use; `key` names the kind answer."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class Selection:
    """Which registrations an export holds. statuses None: every status; nagari_codes None: all."""

    statuses: tuple[str, ...] | None = COUNTED
    nagari_codes: frozenset[str] | None = None
    # Decided (or, when undecided, submitted) on or after this local day.
    since: date | None = None

    @property
    def status_slug(self) -> str:
        if self.statuses is None:
            return "semua-status"
        if set(self.statuses) == set(COUNTED):
            return STATUS_SLUGS["approved"]
        return "+".join(STATUS_SLUGS[s] for s in self.statuses)


def parse_statuses(text: str) -> tuple[str, ...] | None:
    """`approved` (approved and enrolled: every worker the nagari pays for, the default),
    `all`, or statuses separated by commas (`pending,waiting`). None means every status."""
    chosen: list[str] = []
    for word in text.replace(";", ",").split(","):
        word = word.strip().lower().replace("-", "_").replace(" ", "_")
        if not word:
            continue
        status = STATUS_WORDS.get(word)
        if status is None:
            raise SelectionError("report.export.bad_status")
        if status == "all":
            return None
        for one in COUNTED if status == "approved" else (status,):
            if one not in chosen:
                chosen.append(one)
    if not chosen:
        raise SelectionError("report.export.bad_status")
    return tuple(chosen)


def parse_day(text: str) -> date:
    """A day as 2026-12-01 or 01-12-2026 (also with "/" or ".")."""
    value = text.strip().replace("/", "-").replace(".", "-")
    try:
        if len(value.split("-")[0]) == 4:
            return date.fromisoformat(value)
        day, month, year = (int(p) for p in value.split("-"))
        return date(year, month, day)
    except ValueError:
        raise SelectionError("report.export.bad_date") from None


async def nagari_code_of(svc: Services, session: AsyncSession, text: str) -> str | None:
    """A nagari given as its Kemendagri code or a name (any spelling the matcher knows)."""
    text = text.strip()
    if await session.get(Nagari, text) is not None:
        return text
    match = svc.wilayah.match(text)
    return match.nagari.code if match.nagari else None


def query_of(selection: Selection) -> Select[Any]:
    """(Registration, Nagari, RecruitmentLink or None) of the selection, by nagari and age."""
    query = (select(Registration, Nagari, RecruitmentLink).join(Nagari, Nagari.code == Registration.nagari_code)
             .outerjoin(RecruitmentLink, RecruitmentLink.id == Registration.link_id))
    if selection.statuses is not None:
        query = query.where(Registration.status.in_(selection.statuses))
    if selection.nagari_codes is not None:
        query = query.where(Registration.nagari_code.in_(sorted(selection.nagari_codes)))
    if selection.since is not None:
        start = datetime.combine(selection.since, time(0), tzinfo=LOCAL_TZ)
        query = query.where(func.coalesce(Registration.decided_at, Registration.created_at) >= start)
    return query.order_by(Registration.nagari_code, Registration.id)


# ---------------------------------------------------------------------------------------------
# One row

def _local_day(moment: datetime | None) -> date | None:
    return moment.astimezone(LOCAL_TZ).date() if moment else None


def row_of(svc: Services, registration: Registration, nagari: Nagari, today: date,
           link: RecruitmentLink | None = None) -> dict[str, Any]:
    """Every exportable field (conversations.officials.EXPORT_FIELDS) of one registration, as
    typed values (str, int, date; None when unknown) with Indonesian labels. `link`: the
    recruitment link it came through (the `source` column: the agent, the jorong, "tautan
    nagari", or "langsung")."""
    text = svc.catalog.text
    category = svc.rules.category(registration.category)
    work = category.title("id") if category else registration.category
    if registration.category == "lainnya" and registration.category_other:
        work = f"{work}: {registration.category_other}"
    decided = _local_day(registration.decided_at)
    if registration.funding_source in PROGRAMME_FUNDED:
        # The programme pays the lowest bracket in force when cover starts (else when decided).
        paid = programme_contribution(svc, registration.coverage_start or decided or today)
        base, amount = paid.income_base, paid.monthly
    else:
        base, amount = registration.income_base, registration.monthly_contribution
    coverage_end = (add_months(registration.coverage_start, reminder_rules(svc).funded_months)
                    if registration.coverage_start else None)
    relation = registration.heir_relation
    funding_key = f"report.value.funding.{registration.funding_source}"
    return {
        "reference": registration.reference,
        "status": text("id", f"report.value.status.{registration.status}"),
        "nik": svc.cipher.decrypt(registration.nik_enc),
        "name": registration.name,
        "sex": text("id", f"report.value.sex.{registration.sex}"),
        "birth_date": registration.birth_date,
        "nagari_code": registration.nagari_code,
        "nagari": nagari.name,
        "kecamatan": nagari.kecamatan,
        "jorong": registration.jorong,
        "address": text("id", "report.value.address", jorong=registration.jorong, nagari=nagari.name,
                        kecamatan=nagari.kecamatan, regency=svc.config.regency.name),
        "phone": registration.phone,
        "category": work,
        "income": registration.income,
        "income_base": registration.income_base,
        "monthly_contribution": registration.monthly_contribution,
        "contribution_base": base,
        "contribution": amount,
        "programmes": PROGRAMMES,
        "funding_source": text("id", funding_key) if svc.catalog.has(funding_key) else registration.funding_source,
        "heir_name": registration.heir_name or "",
        "heir_relation": text("id", f"btn.rel.{relation}") if relation and svc.catalog.has(f"btn.rel.{relation}")
        else relation or "",
        "decided_at": decided if registration.status != "pending" else None,
        "kpj": registration.kpj or "",
        "coverage_start": registration.coverage_start,
        "coverage_end": coverage_end,
        "created_at": _local_day(registration.created_at),
        "flags": "; ".join(text("id", f"official.flag.{f}") if svc.catalog.has(f"official.flag.{f}") else f
                           for f in registration.flags or []),
        "source": source_label(lambda key, **params: text("id", key, **params), link is not None,
                               link.jorong if link else None, link.agent if link else None),
    }


async def rows_of(svc: Services, session: AsyncSession, selection: Selection) -> AsyncIterator[dict[str, Any]]:
    """The selected registrations, streamed (a whole province fits in little memory)."""
    today = svc.clock.now().astimezone(LOCAL_TZ).date()
    result = await session.stream(query_of(selection).execution_options(yield_per=1000))
    async for registration, nagari, link in result:
        yield row_of(svc, registration, nagari, today, link)


# ---------------------------------------------------------------------------------------------
# Writers

def csv_value(field: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.strftime("%d-%m-%Y")
    return str(value)


async def write_csv(rows: AsyncIterator[dict[str, Any]], columns: Iterable[ExportColumn], out: IO[str]) -> int:
    """RFC 4180 rows to a text stream opened with newline="" (the BOM is the caller's encoding,
    "utf-8-sig", or `BOM` written first)."""
    columns = tuple(columns)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header for c in columns])
    count = 0
    async for row in rows:
        writer.writerow([csv_value(c.field, row[c.field]) for c in columns])
        count += 1
    return count


def _header_cells(sheet: Any, columns: tuple[ExportColumn, ...]) -> list[Any]:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill

    cells = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.header)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="1F4E79")
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        cells.append(cell)
    return cells


async def write_xlsx(rows: AsyncIterator[dict[str, Any]], columns: Iterable[ExportColumn], path: Path | IO[bytes]) -> int:
    # Write-only mode streams rows to disk; widths and the frozen header must be set before the
    # first row, the filter (which needs the last row) before saving. openpyxl is imported here,
    # by the first spreadsheet: a process that never writes one does not load it.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    columns = tuple(columns)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Peserta")
    for index, column in enumerate(columns, start=1):
        width = max(WIDTHS.get(column.field, 14), min(len(column.header) + 2, 24))
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append(_header_cells(sheet, columns))
    count = 0
    async for row in rows:
        cells = []
        for column in columns:
            value = row[column.field]
            if column.field in TEXT_FIELDS:
                cell = WriteOnlyCell(sheet, value=str(value) if value else None)
                cell.number_format = "@"
            else:
                cell = WriteOnlyCell(sheet, value=value if value != "" else None)
                if column.field in DATE_FIELDS:
                    cell.number_format = DATE_FORMAT
                elif column.field in MONEY_FIELDS:
                    cell.number_format = MONEY_FORMAT
            cells.append(cell)
        sheet.append(cells)
        count += 1
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{count + 1}"
    book.save(path)
    return count


# ---------------------------------------------------------------------------------------------
# Chat exports (files under export_dir) and the audit trail

def export_path(svc: Services, kind: str, scope: str, extension: str) -> Path:
    """A new, unguessable file name under the export directory (created 0700)."""
    folder = svc.config.resolve(svc.config.officials.export_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M%S")
    safe_scope = scope.replace(".", "")
    return folder / f"{kind}-{safe_scope}-{stamp}-{secrets.token_hex(4)}.{extension}"


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


async def export_registrations(svc: Services, session: AsyncSession, selection: Selection,
                               scope: str, fmt: str, actor: str, now: datetime) -> tuple[Path, int]:
    """Write the selected list as XLSX or CSV and record the export in the audit trail. The
    file is read and written on the long-read thread (handlers/writer.long_read): a province's
    list takes a while, the event loop keeps serving meanwhile."""
    path = export_path(svc, "bpjs", f"{scope}-{selection.status_slug}", fmt)
    columns = svc.config.officials.export_columns

    async def write(reading: AsyncSession) -> int:
        rows = rows_of(svc, reading, selection)
        if fmt == "xlsx":
            path.touch(mode=0o600)
            return await write_xlsx(rows, columns, path)
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            _private(path)
            return await write_csv(rows, columns, handle)

    count = await long_read(svc, write, session)
    _private(path)
    await _record(svc, session, actor, now, kind="registrations", scope=scope, fmt=fmt, rows=count, path=path,
                  statuses=selection.status_slug)
    return path, count


async def export_audit(svc: Services, session: AsyncSession, nagari_codes: set[str] | None, scope: str,
                       actor: str, now: datetime) -> tuple[Path, int]:
    """The audit trail as CSV: of everything, or of the registrations of some nagari (read and
    written on the long-read thread, as `export_registrations`)."""
    path = export_path(svc, "audit", scope, "csv")
    query = select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)
    if nagari_codes is not None:
        references = select(Registration.reference).where(Registration.nagari_code.in_(sorted(nagari_codes)))
        query = query.where(AuditEvent.reference.in_(references))

    async def write(reading: AsyncSession) -> int:
        count = 0
        with path.open("w", encoding="utf-8", newline="") as handle:
            _private(path)
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["at", "actor", "action", "reference", "details"])
            for event in (await reading.execute(query)).scalars():
                writer.writerow([event.at.astimezone(LOCAL_TZ).isoformat(timespec="seconds"), event.actor,
                                 event.action, event.reference or "", json.dumps(event.details, ensure_ascii=False)])
                count += 1
        return count

    count = await long_read(svc, write, session)
    await _record(svc, session, actor, now, kind="audit", scope=scope, fmt="csv", rows=count, path=path)
    return path, count


async def _record(svc: Services, session: AsyncSession, actor: str, now: datetime, **details: Any) -> None:
    details["file"] = details.pop("path").name
    await Repository(session, svc.cipher).audit(actor, "exported", now, None, **details)


async def purge_old_files(svc: Services, now: datetime) -> list[Any]:
    """Due job: delete exports and charts older than `file_retention_hours`: they hold full
    NIKs and were only needed until sent (UU 27/2022, data minimisation)."""
    rules = svc.config.officials
    cutoff = (now - timedelta(hours=rules.file_retention_hours)).timestamp()
    for folder in (svc.config.resolve(rules.export_dir), svc.config.resolve(rules.chart_dir)):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
    return []
