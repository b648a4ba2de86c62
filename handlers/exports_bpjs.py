"""Use-case: export approved registrations for the BPJS TK branch (XLSX and CSV), and the audit
trail (CSV), as files sent to the official in chat.

The XLSX columns follow `officials.export_columns` in config.yaml (the branch's template). NIK,
KK, phone and KPJ are text cells (number_format "@", str values): Excel keeps only 15 digits of
a number and drops the "+" of a phone (DOMAIN.md). CSV cells of those columns are text formulas
="..." (handlers/export.py). Files hold full NIKs: they are written under `export_dir` readable by
the bot's user only, and every export is recorded in the audit trail.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import TEXT_FIELDS, ExportColumn
from handlers.clock import LOCAL_TZ
from handlers.export import as_text_cell, row_of
from handlers.quota import COUNTED
from handlers.services import Services
from storage.models import AuditEvent, Nagari, Registration
from storage.repo import Repository

# The programmes a village scheme buys (DOMAIN.md): work accident and death benefit.


def export_path(svc: Services, kind: str, scope: str, extension: str) -> Path:
    """A new, unguessable file name under the export directory (created 0700)."""
    folder = svc.config.resolve(svc.config.officials.export_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M%S")
    safe_scope = scope.replace(".", "")
    return folder / f"{kind}-{safe_scope}-{stamp}-{secrets.token_hex(4)}.{extension}"


def _private(path: Path) -> None:
    os.chmod(path, 0o600)


async def approved_rows(svc: Services, session: AsyncSession, nagari_codes: set[str] | None) -> AsyncIterator[dict[str, Any]]:
    """Approved and enrolled registrations (all nagari when `nagari_codes` is None), streamed."""
    query = (select(Registration, Nagari).join(Nagari, Nagari.code == Registration.nagari_code)
             .where(Registration.status.in_(COUNTED)).order_by(Registration.nagari_code, Registration.id))
    if nagari_codes is not None:
        query = query.where(Registration.nagari_code.in_(sorted(nagari_codes)))
    result = await session.stream(query.execution_options(yield_per=1000))
    async for registration, nagari in result:
        yield row_of(svc, registration, nagari)


async def write_xlsx(rows: AsyncIterator[dict[str, Any]], columns: tuple[ExportColumn, ...], path: Path) -> int:
    # Write-only mode streams rows to disk: a whole regency fits in little memory.
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Peserta")
    sheet.append([c.header for c in columns])
    count = 0
    async for row in rows:
        cells = []
        for column in columns:
            value = row[column.field]
            cell = WriteOnlyCell(sheet, value=str(value) if column.field in TEXT_FIELDS else value)
            if column.field in TEXT_FIELDS:
                cell.number_format = "@"
            cells.append(cell)
        sheet.append(cells)
        count += 1
    book.save(path)
    _private(path)
    return count


async def write_csv(rows: AsyncIterator[dict[str, Any]], columns: tuple[ExportColumn, ...], path: Path) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        _private(path)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([c.header for c in columns])
        async for row in rows:
            writer.writerow([as_text_cell(str(row[c.field])) if c.field in TEXT_FIELDS and row[c.field]
                             else row[c.field] for c in columns])
            count += 1
    return count


async def export_registrations(svc: Services, session: AsyncSession, nagari_codes: set[str] | None,
                               scope: str, fmt: str, actor: str, now: datetime) -> tuple[Path, int]:
    """Write the approved list as XLSX or CSV and record the export in the audit trail."""
    path = export_path(svc, "bpjs", scope, fmt)
    columns = svc.config.officials.export_columns
    writer = write_xlsx if fmt == "xlsx" else write_csv
    count = await writer(approved_rows(svc, session, nagari_codes), columns, path)
    await _record(svc, session, actor, now, kind="registrations", scope=scope, fmt=fmt, rows=count, path=path)
    return path, count


async def export_audit(svc: Services, session: AsyncSession, nagari_codes: set[str] | None, scope: str,
                       actor: str, now: datetime) -> tuple[Path, int]:
    """The audit trail as CSV: of everything, or of the registrations of some nagari."""
    path = export_path(svc, "audit", scope, "csv")
    query = select(AuditEvent).order_by(AuditEvent.at, AuditEvent.id)
    if nagari_codes is not None:
        references = select(Registration.reference).where(Registration.nagari_code.in_(sorted(nagari_codes)))
        query = query.where(AuditEvent.reference.in_(references))
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        _private(path)
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["at", "actor", "action", "reference", "details"])
        for event in (await session.execute(query)).scalars():
            writer.writerow([event.at.astimezone(LOCAL_TZ).isoformat(timespec="seconds"), event.actor,
                             event.action, event.reference or "", json.dumps(event.details, ensure_ascii=False)])
            count += 1
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
