"""Use-case: an admin imports BPJS TK's enrolment results (XLSX or CSV: the bot's reference or
the NIK, the KPJ number, the coverage start date). Each good row marks an approved registration
`enrolled` and tells the worker they are covered; every row gets a result in a report (a CSV file
sent back): updated, already up to date, not found, ambiguous or invalid, with the reason.
Importing the same file twice changes nothing the second time.

Header names are matched loosely (Indonesian or English, any case, common variants: "NIK", "No
KPJ" / "KPJ" / "Nomor Peserta", "TMT" / "Tgl Kepesertaan"): a branch's own files differ from one
sender to the next and carry the NIK, not our reference.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import reference_of
from conversations.validators import mask_nik, normalize_nik, normalize_text
from handlers.services import Services
from storage.models import Registration
from storage.repo import NIK_BLOCKING, Repository

HEADERS: dict[str, frozenset[str]] = {
    "reference": frozenset({"reference", "referensi", "ref", "no referensi", "nomor referensi", "no ref",
                            "reference number", "kode referensi"}),
    "nik": frozenset({"nik", "no nik", "nomor nik", "nik ktp", "no ktp", "nomor ktp", "nomor induk kependudukan",
                      "nik peserta", "national id", "id number", "nik tk", "nik tenaga kerja"}),
    "kpj": frozenset({"kpj", "no kpj", "nomor kpj", "kpj number", "nomor peserta", "no peserta", "no kartu",
                      "nomor kartu", "no kartu peserta", "nomor kartu peserta", "participant number",
                      "membership number", "member number", "kpj no"}),
    "coverage_start": frozenset({"coverage start", "tmt", "tanggal mulai", "mulai", "tgl mulai", "start",
                                 "tanggal kepesertaan", "tgl kepesertaan", "tmt kepesertaan", "tgl tmt",
                                 "tanggal tmt", "coverage start date", "start date", "effective date",
                                 "tanggal efektif", "tgl efektif", "tmt peserta"}),
}
# Each row names the registration by one of these (or both, which must agree).
KEYS = ("reference", "nik")
# Results, in the report: a reason (catalog key official.import.reason.<reason>) -> its result.
RESULTS = {"updated": "updated", "unchanged": "up_to_date", "unknown_reference": "not_found",
           "unknown_nik": "not_found", "ambiguous": "ambiguous"}
DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


class ImportFileError(ValueError):
    """The file cannot be read as an enrolment list; `key` is the catalog key explaining why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class RowProblem:
    row: int
    reference: str  # the row's key as shown: the reference, or the NIK masked
    reason: str  # catalog key suffix: official.import.reason.<reason>


@dataclass(frozen=True)
class RowResult:
    row: int
    key: str  # the reference, or the NIK masked
    reason: str  # "updated", "unchanged", or a problem's reason

    @property
    def result(self) -> str:
        return RESULTS.get(self.reason, "invalid")


@dataclass
class ImportReport:
    enrolled: list[Registration] = field(default_factory=list)
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    rows: list[RowResult] = field(default_factory=list)


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(spreadsheet row number, {reference, kpj, coverage_start}) for each non-empty row."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        raw = _xlsx_rows(path)
    elif suffix == ".csv":
        raw = _csv_rows(path)
    else:
        raise ImportFileError("official.import.bad_file")
    try:
        header = next(raw)
    except StopIteration:
        raise ImportFileError("official.import.bad_file") from None
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        name = normalize_text(str(title or ""))
        for key, names in HEADERS.items():
            if name in names:
                positions.setdefault(key, index)
    if not {"kpj", "coverage_start"} <= set(positions) or not set(KEYS) & set(positions):
        raise ImportFileError("official.import.bad_header")
    for number, values in enumerate(raw, start=2):
        if not any(v not in (None, "") for v in values):
            continue
        row = {key: None for key in HEADERS}
        row.update({key: values[i] if i < len(values) else None for key, i in positions.items()})
        yield number, row


def _xlsx_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception:  # noqa: BLE001 - any unreadable upload is the sender's file problem
        raise ImportFileError("official.import.bad_file") from None
    try:
        yield from book.active.iter_rows(values_only=True)
    finally:
        book.close()


def _csv_rows(path: Path) -> Iterator[tuple[Any, ...]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        sample = handle.read(4096)
        handle.seek(0)
        try:
            dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
        except csv.Error:
            dialect = csv.excel
        for row in csv.reader(handle, dialect):
            # Cells written as text formulas ="..." (our own exports) read back as their text.
            yield tuple(re.sub(r'^="(.*)"$', r"\1", cell.strip()) for cell in row)


def parse_start(value: Any) -> date | None:
    """A coverage start: a spreadsheet date, ISO 2026-12-01 or day first 01-12-2026."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    match = DAY_FIRST.match(text)
    if match:
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            return None
    return None


def kpj_of(value: Any) -> str:
    """KPJ numbers arrive as text or, from Excel, as numbers (123.0): digits only."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return re.sub(r"[\s.-]", "", str(value or ""))


def nik_of(value: Any) -> str:
    """A NIK cell: text as typed, or a number from a spreadsheet that lost the text format."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return normalize_nik(str(value or ""))


async def import_enrolments(svc: Services, session: AsyncSession, path: Path, actor: str,
                            now: datetime) -> ImportReport:
    """Apply one file; the caller commits. Raises ImportFileError for an unreadable file."""
    repo = Repository(session, svc.cipher)
    pattern = re.compile(svc.config.officials.kpj_pattern)
    report = ImportReport()
    seen: set[str] = set()
    for number, row in read_rows(path):
        registration, key, problem = await _registration_of(svc, session, repo, row)
        if problem is None:
            assert registration is not None
            problem = await _check(session, pattern, registration, row, seen)
        if problem:
            report.problems.append(RowProblem(number, key, problem))
            report.rows.append(RowResult(number, key, problem))
            continue
        assert registration is not None
        reference = registration.reference
        seen.add(reference)
        kpj, start = kpj_of(row["kpj"]), parse_start(row["coverage_start"])
        if registration.status == "enrolled":
            report.unchanged += 1
            report.rows.append(RowResult(number, key, "unchanged"))
            continue
        registration.status, registration.kpj, registration.coverage_start = "enrolled", kpj, start
        registration.updated_at = now
        await repo.audit(actor, "enrolled", now, reference, kpj=kpj, coverage_start=str(start))
        report.enrolled.append(registration)
        report.rows.append(RowResult(number, key, "updated"))
    await repo.audit(actor, "enrolment_import", now, None, file=path.name, enrolled=len(report.enrolled),
                     unchanged=report.unchanged, rejected=len(report.problems))
    return report


async def _registration_of(svc: Services, session: AsyncSession, repo: Repository,
                           row: dict[str, Any]) -> tuple[Registration | None, str, str | None]:
    """The registration a row names (by reference, by NIK, or by both agreeing), the row's key
    as the report shows it (a NIK only masked), and the problem when there is none."""
    typed = str(row["reference"] or "").strip()
    nik = nik_of(row["nik"]) if row["nik"] not in (None, "") else ""
    key = typed or (mask_nik(nik) if nik else "-")
    by_reference = by_nik = None
    if typed:
        reference = reference_of(typed)
        if reference is None:
            return None, key, "bad_reference"
        by_reference = await repo.registration(reference)
        if by_reference is None and not nik:
            return None, key, "unknown_reference"
    if nik:
        if not (len(nik) == 16 and nik.isdigit()):
            return None, key, "bad_nik"
        # The NIK's live registration (a rejected or withdrawn one does not count).
        found = (await session.execute(select(Registration).where(
            Registration.nik_hash == svc.cipher.lookup_hash(nik), Registration.status.in_(NIK_BLOCKING)))).scalars().all()
        if len(found) > 1:
            return None, key, "ambiguous"
        by_nik = found[0] if found else None
        if by_nik is None and by_reference is None:
            return None, key, "unknown_nik"
    if by_reference is not None and by_nik is not None and by_reference.id != by_nik.id:
        return None, key, "ambiguous"
    registration = by_reference or by_nik
    return registration, key, None if registration is not None else "unknown_reference"


async def _check(session: AsyncSession, pattern: re.Pattern[str], registration: Registration,
                 row: dict[str, Any], seen: set[str]) -> str | None:
    """Why a row cannot be applied (a reason key), or None."""
    if registration.reference in seen:
        return "duplicate_row"
    kpj = kpj_of(row["kpj"])
    if not pattern.match(kpj):
        return "bad_kpj"
    if parse_start(row["coverage_start"]) is None:
        return "bad_date"
    if registration.status == "enrolled":
        return None if registration.kpj == kpj else "other_kpj"
    if registration.status != "approved":
        return "not_approved"
    taken = await session.execute(select(Registration.reference).where(Registration.kpj == kpj,
                                                                       Registration.id != registration.id))
    if taken.first() is not None:
        return "kpj_taken"
    return None


def write_report(report: ImportReport, out: IO[str], label: Callable[[str], str]) -> None:
    """The per-row report as CSV (BOM first, for spreadsheets): row, key, result, detail;
    `label` turns a catalog key into the official's words."""
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([label("official.import.col.row"), label("official.import.col.key"),
                     label("official.import.col.result"), label("official.import.col.detail")])
    for row in report.rows:
        writer.writerow([row.row, row.key, label(f"official.import.result.{row.result}"),
                         label(f"official.import.reason.{row.reason}")])


def save_report(svc: Services, report: ImportReport, label: Callable[[str], str]) -> Path:
    """The report as a private file under the export folder (purged like exports)."""
    from handlers.exports_bpjs import export_path

    path = export_path(svc, "impor", "laporan", "csv")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        write_report(report, handle, label)
    return path
