"""Use-case: `python -m bot export` on the server (full NIK: an operator's tool).

The same rows and columns as the officials' `/ekspor` (handlers/exports_bpjs.py): CSV as plain
RFC 4180 in UTF-8 with a byte-order mark, or XLSX; approved (and enrolled) registrations unless
another status is asked for, the selection stated in the default file name.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from handlers.clock import LOCAL_TZ
from handlers.exports_bpjs import (
    Selection,
    SelectionError,
    nagari_code_of,
    parse_day,
    parse_statuses,
    rows_of,
    write_csv,
    write_xlsx,
)
from handlers.services import Services

BOM = "\ufeff"


@dataclass(frozen=True)
class ExportRequest:
    """What `export` was asked for, as typed on the command line."""

    fmt: str = "csv"
    status: str = "approved"
    nagari: str | None = None
    since: str | None = None


async def selection_of(svc: Services, request: ExportRequest) -> Selection:
    """The registrations a request selects; SelectionError for a status, nagari or date that
    does not exist."""
    codes = None
    if request.nagari:
        async with svc.db.session() as session:
            code = await nagari_code_of(svc, session, request.nagari)
        if code is None:
            raise SelectionError("report.export.unknown_nagari")
        codes = frozenset({code})
    return Selection(statuses=parse_statuses(request.status), nagari_codes=codes,
                     since=parse_day(request.since) if request.since else None)


def default_name(svc: Services, selection: Selection, fmt: str) -> str:
    """peserta-<status>-<nagari or semua>-<date>.<fmt>: the selection is visible in the name."""
    scope = "semua" if selection.nagari_codes is None else "-".join(sorted(selection.nagari_codes)).replace(".", "")
    day = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d")
    return f"peserta-{selection.status_slug}-{scope}-{day}.{fmt}"


async def export_csv(svc: Services, out: IO[str], selection: Selection = Selection()) -> int:
    """CSV to a text stream (open it with newline=""): the BOM first, then the rows."""
    out.write(BOM)
    async with svc.db.session() as session:
        return await write_csv(rows_of(svc, session, selection), svc.config.officials.export_columns, out)


async def export_xlsx(svc: Services, out: Path | IO[bytes], selection: Selection = Selection()) -> int:
    async with svc.db.session() as session:
        return await write_xlsx(rows_of(svc, session, selection), svc.config.officials.export_columns, out)


async def export_bytes(svc: Services, fmt: str, selection: Selection = Selection()) -> tuple[bytes, int]:
    """The whole file in memory (for a pipe: stdout)."""
    if fmt == "xlsx":
        buffer = io.BytesIO()
        count = await export_xlsx(svc, buffer, selection)
        return buffer.getvalue(), count
    text = io.StringIO(newline="")
    count = await export_csv(svc, text, selection)
    return text.getvalue().encode("utf-8"), count
