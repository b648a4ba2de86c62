"""The tables of a dashboard page: shown as HTML, sorted on request, and downloaded as CSV or
XLSX with the same rows -- so a spreadsheet and the page never disagree.

A cell keeps its value (a number, or text) for sorting and for the files, and the text the page
shows (Indonesian number format, a percentage, "-"). Files hold plain values: numbers are
number cells in XLSX, digits in CSV. CSV is RFC 4180 in UTF-8 with a byte-order mark (as the
BPJS export: Excel opens it with the right characters); a page with several tables gives them
one after another, each after a line with its title and before an empty line, or one table with
`table=NAME`. XLSX has one sheet per table, with a frozen header.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from typing import Any

# Characters Excel refuses in a sheet's title, which is at most 31 characters.
SHEET_UNSAFE = re.compile(r"[\[\]:*?/\\]")
SHEET_TITLE_MAX = 31
# A text starting with one of these is a formula to a spreadsheet (an agent's name typed as
# "=HYPERLINK(...)"): CSV gets it after an apostrophe, XLSX as a text cell.
FORMULA_START = ("=", "+", "-", "@")


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = False


@dataclass(frozen=True)
class Cell:
    value: Any  # what is sorted and written to the files (None: empty)
    text: str  # what the page shows
    href: str | None = None
    meter: tuple[float, float] | None = None  # (part, whole): a bar beside the text


@dataclass
class Table:
    name: str
    title: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)
    sortable: bool = False
    note: str = ""
    shown: bool = True  # False: in the files only (the key figures, which the page shows as figures)

    def sort(self, key: str | None, descending: bool) -> None:
        """Rows by one column (unknown keys leave the order as it is); empty cells last."""
        keys = [c.key for c in self.columns]
        if key not in keys:
            return
        index = keys.index(key)
        present = [r for r in self.rows if r[index].value is not None]
        empty = [r for r in self.rows if r[index].value is None]

        def value(row: list[Cell]) -> Any:
            found = row[index].value
            return found.casefold() if isinstance(found, str) else found

        self.rows = sorted(present, key=value, reverse=descending) + empty


def to_csv(tables: list[Table]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    single = len(tables) == 1
    for table in tables:
        if not single:
            writer.writerow([table.title])
        writer.writerow([c.title for c in table.columns])
        for row in table.rows:
            writer.writerow([_csv_value(cell.value) for cell in row])
        if not single:
            writer.writerow([])
    return out.getvalue().encode("utf-8-sig")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula
    return cell


def sheet_title(title: str, taken: set[str]) -> str:
    base = SHEET_UNSAFE.sub(" ", title).strip()[:SHEET_TITLE_MAX] or "Sheet"
    name, number = base, 2
    while name.lower() in taken:
        suffix = f" {number}"
        name, number = base[:SHEET_TITLE_MAX - len(suffix)] + suffix, number + 1
    taken.add(name.lower())
    return name


def to_xlsx(tables: list[Table]) -> bytes:
    # openpyxl is loaded by the first download, not with the server (docs/deploy.md, "Cost").
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    taken: set[str] = set()
    for table in tables:
        sheet = book.create_sheet(sheet_title(table.title, taken))
        sheet.freeze_panes = "A2"
        sheet.append([c.title for c in table.columns])
        for row in table.rows:
            sheet.append([_xlsx_cell(sheet, cell.value) for cell in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
