"""BPJS results as a branch sends them: keyed by NIK (or the bot's reference), with the
branch's own header names ("NIK", "No KPJ" / "KPJ" / "Nomor Peserta", "TMT" / "Tgl Kepesertaan"),
as XLSX or CSV, from the chat or the command line. Every row gets a result in a report sent back
as a file, never with a NIK in clear; the same file twice changes nothing the second time."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import date
from pathlib import Path

import pytest
from openpyxl import Workbook

from conversations.events import Document
from handlers.services import Services
from tests import conftest
from tests.conftest import Chat
from tests.officials_support import ADMIN, add_officials, add_registrations, nik, private_folders, registration

HEADERS = [("NIK", "No KPJ", "TMT"), ("nik", "KPJ", "Tgl Kepesertaan"), ("No. NIK", "Nomor Peserta", "TMT Kepesertaan"),
           ("NIK KTP", "No Kartu", "Tanggal Kepesertaan")]


def branch_file(path: Path, header: tuple[str, ...], rows: list[tuple]) -> Path:
    if path.suffix == ".xlsx":
        book = Workbook()
        sheet = book.active
        sheet.append(list(header))
        for row in rows:
            sheet.append(list(row))
        book.save(path)
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(header)
            writer.writerows(rows)
    return path


def report_rows(path: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(Path(path).read_text(encoding="utf-8").removeprefix("\ufeff"))))


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
@pytest.mark.parametrize("header", HEADERS)
async def test_a_branch_file_keyed_by_nik_is_applied_with_a_report_per_row(
        svc: Services, tmp_path: Path, suffix: str, header: tuple[str, ...]) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    approved = await add_registrations(svc, 2, status="approved")
    await add_registrations(svc, 1, start=30)  # pending: not yet approved
    spaced = " ".join(nik(2)[i:i + 4] for i in range(0, 16, 4))
    path = branch_file(tmp_path / f"hasil{suffix}", header, [
        (nik(1), "12345678901", "01-12-2026"),
        (spaced, "12345678902", "2026-12-01"),  # the NIK as people type it
        (nik(30), "12345678903", "2026-12-01"),  # pending: invalid (not approved)
        (nik(99), "12345678904", "2026-12-01"),  # nobody: not found
        ("13030512", "12345678905", "2026-12-01"),  # not a NIK: invalid
    ])
    again = shutil.copy(path, tmp_path / f"again{suffix}")
    admin = Chat(svc, ADMIN)
    await admin.send(Document(str(path), path.name))
    assert admin.keys == ["official.import.report"] and admin.last.document
    rows = report_rows(admin.last.document)
    assert [r["Hasil"] for r in rows] == ["diperbarui", "diperbarui", "tidak valid", "tidak ditemukan", "tidak valid"]
    shown = Path(admin.last.document).read_text(encoding="utf-8") + admin.text
    assert nik(1) not in shown and nik(1)[4:] not in shown and nik(99)[4:] not in shown
    for reference in approved:
        found = await registration(svc, reference)
        assert found.status == "enrolled" and found.coverage_start == date(2026, 12, 1)
    assert [o.reply.key for o in admin.others] == ["official.worker.enrolled"] * 2
    # The same file again: nothing changes, nobody is told, the report says "up to date".
    await admin.send(Document(str(again), path.name))
    assert admin.others == []
    assert [r["Hasil"] for r in report_rows(admin.last.document)][:2] == ["sudah sesuai", "sudah sesuai"]


async def test_reference_and_nik_must_agree(svc: Services, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    first, second = await add_registrations(svc, 2, status="approved")
    path = branch_file(tmp_path / "both.xlsx", ("Referensi", "NIK", "No KPJ", "TMT"), [
        (first, nik(1), "12345678901", "2026-12-01"),
        (second, nik(1), "12345678902", "2026-12-01"),  # the NIK of another registration
        ("SJ-ZZZZZZ", "", "12345678903", "2026-12-01"),
    ])
    admin = Chat(svc, ADMIN)
    await admin.send(Document(str(path), path.name))
    assert [r["Hasil"] for r in report_rows(admin.last.document)] == ["diperbarui", "ganda", "tidak ditemukan"]
    assert (await registration(svc, second)).status == "approved"


async def test_the_command_line_applies_the_same_file(svc: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    from bot.cli import main

    (reference,) = await add_registrations(svc, 1, status="approved")
    path = branch_file(tmp_path / "hasil.csv", ("NIK", "KPJ", "TMT"), [(nik(1), "12345678901", "01-12-2026"),
                                                                      (nik(7), "12345678902", "01-12-2026")])
    monkeypatch.setenv("BOT_SECRET_KEY", conftest.test_env(tmp_path).secret_key or "")
    url = str(svc.db.engine.url)
    await svc.db.dispose()
    report = tmp_path / "laporan.csv"
    argv = ["import-enrolment", str(path), "--db", url, "--report", str(report), "--lang", "en"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "1 updated" in capsys.readouterr().err
    assert [r["Result"] for r in report_rows(str(report))] == ["updated", "not found"]
    assert await asyncio.to_thread(main, argv) == 0
    assert "0 updated, 1 up to date" in capsys.readouterr().err
    assert (await registration(svc, reference)).status == "enrolled"
