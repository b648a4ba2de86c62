"""Use-case: an admin imports BPJS TK's enrolment results (XLSX or CSV: reference, KPJ number,
coverage start date). Each good row marks an approved registration `enrolled` and tells the
worker they are covered; every other row is reported back with its reason, row by row.

Header names are matched loosely (Indonesian or English, any case): the branch's own files
differ from one sender to the next.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import reference_of
from conversations.validators import normalize_text
from handlers.services import Services
from storage.models import Registration
from storage.repo import Repository

HEADERS: dict[str, frozenset[str]] = {
    "reference": frozenset({"reference", "referensi", "ref", "no referensi", "nomor referensi"}),
    "kpj": frozenset({"kpj", "no kpj", "nomor kpj", "kpj number", "nomor peserta"}),
    "coverage_start": frozenset({"coverage start", "tmt", "tanggal mulai", "mulai",
                                 "tgl mulai", "start", "tanggal kepesertaan"}),
}
DAY_FIRST = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")


class ImportFileError(ValueError):
    """The file cannot be read as an enrolment list; `key` is the catalog key explaining why."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


@dataclass(frozen=True)
class RowProblem:
    row: int
    reference: str
    reason: str  # catalog key suffix: official.import.reason.<reason>


@dataclass
class ImportReport:
    enrolled: list[Registration] = field(default_factory=list)
    unchanged: int = 0
    problems: list[RowProblem] = field(default_factory=list)


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
    if set(positions) != set(HEADERS):
        raise ImportFileError("official.import.bad_header")
    for number, values in enumerate(raw, start=2):
        if not any(v not in (None, "") for v in values):
            continue
        yield number, {key: values[i] if i < len(values) else None for key, i in positions.items()}


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


async def import_enrolments(svc: Services, session: AsyncSession, path: Path, actor: str,
                            now: datetime) -> ImportReport:
    """Apply one file; the caller commits. Raises ImportFileError for an unreadable file."""
    repo = Repository(session, svc.cipher)
    pattern = re.compile(svc.config.officials.kpj_pattern)
    report = ImportReport()
    seen: set[str] = set()
    for number, row in read_rows(path):
        typed = str(row["reference"] or "").strip()
        reference = reference_of(typed)
        problem = await _check(repo, session, pattern, reference, row, seen)
        if problem:
            report.problems.append(RowProblem(number, typed or "-", problem))
            continue
        assert reference is not None
        seen.add(reference)
        registration = await repo.registration(reference)
        assert registration is not None
        kpj, start = kpj_of(row["kpj"]), parse_start(row["coverage_start"])
        if registration.status == "enrolled":
            report.unchanged += 1
            continue
        registration.status, registration.kpj, registration.coverage_start = "enrolled", kpj, start
        registration.updated_at = now
        await repo.audit(actor, "enrolled", now, reference, kpj=kpj, coverage_start=str(start))
        report.enrolled.append(registration)
    await repo.audit(actor, "enrolment_import", now, None, file=path.name, enrolled=len(report.enrolled),
                     unchanged=report.unchanged, rejected=len(report.problems))
    return report


async def _check(repo: Repository, session: AsyncSession, pattern: re.Pattern[str], reference: str | None,
                 row: dict[str, Any], seen: set[str]) -> str | None:
    """Why a row cannot be applied (a reason key), or None."""
    if reference is None:
        return "bad_reference"
    if reference in seen:
        return "duplicate_row"
    registration = await repo.registration(reference)
    if registration is None:
        return "unknown_reference"
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
