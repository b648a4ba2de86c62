"""Files: the BPJS export (XLSX opened with openpyxl and checked cell by cell: NIK a text cell),
CSV, the audit trail export, enrolment imports with good and bad rows, statistics with a chart."""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path

from openpyxl import Workbook, load_workbook
from PIL import Image

from conversations.events import Document
from tests.conftest import Chat
from tests.officials_support import (
    ADMIN,
    KANDANG,
    OPERATOR,
    VIEWER,
    add_officials,
    add_registrations,
    nik,
    private_folders,
    registration,
)


async def test_xlsx_export_has_text_cells_for_nik_kk_phone(svc, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    approved = await add_registrations(svc, 3, status="approved")
    await add_registrations(svc, 2, start=20)  # pending: not exported
    await add_registrations(svc, 1, KANDANG, start=40, status="approved")
    operator = Chat(svc, OPERATOR)
    await operator("/ekspor")
    assert operator.keys == ["official.export.done"]
    path = Path(operator.last.document)
    assert path.parent == tmp_path / "exports" and path.suffix == ".xlsx"
    assert path.stat().st_mode & 0o077 == 0  # full NIKs: readable by the bot's user only
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows())
    headers = [c.value for c in rows[0]]
    assert headers == [c.header for c in svc.config.officials.export_columns]
    assert len(rows) == 4  # Muaro's 3 approved, not Kandang Baru's, not the pending
    column = {h: i for i, h in enumerate(headers)}
    for serial, row in enumerate(rows[1:], start=1):
        nik_cell = row[column["NIK"]]
        assert nik_cell.value == nik(serial) and nik_cell.data_type == "s" and nik_cell.number_format == "@"
        phone = row[column["NO HP"]]
        assert phone.value == f"+62812{serial:08d}" and phone.data_type == "s" and phone.number_format == "@"
        assert "NO KK" not in column  # not collected by the form: no always-empty column
        assert [row[column[h]].value for h in ("KECAMATAN", "NAGARI", "JORONG")] == ["Sijunjung", "Muaro", "Koto Tuo"]
        assert row[column["NAMA LENGKAP"]].value == f"Pekerja {serial}"
        assert row[column["PROGRAM"]].value == "JKK+JKM"
        assert row[column["REFERENSI"]].value == approved[serial - 1]
        assert "Nagari Muaro" in row[column["ALAMAT"]].value


async def test_csv_export_for_viewer_and_audit_export(svc, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await add_registrations(svc, 2, status="approved")
    await add_registrations(svc, 1, KANDANG, start=40, status="approved")
    viewer = Chat(svc, VIEWER)
    await viewer("/export csv")
    with open(viewer.last.document, encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.reader(handle))
    assert len(rows) == 4 and rows[1][1] == nik(1)  # all nagari; NIK as plain digits
    await viewer("/ekspor audit")
    assert viewer.keys == ["official.export.audit"]
    with open(viewer.last.document, encoding="utf-8") as handle:
        actions = [r["action"] for r in csv.DictReader(handle)]
    assert actions == ["exported"]  # the first export is in the trail
    assert nik(1) not in Path(viewer.last.document).read_text()


def enrolment_file(path: Path, rows: list[tuple]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["No Referensi", "No KPJ", "TMT"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


async def test_import_good_and_bad_rows(svc, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    approved = await add_registrations(svc, 3, status="approved")
    [pending] = await add_registrations(svc, 1, start=30)
    path = enrolment_file(tmp_path / "hasil.xlsx", [
        (approved[0], "12345678901", date(2026, 12, 1)),
        (approved[1], 12345678902.0, "01-12-2026"),  # Excel turned the KPJ into a number
        (approved[1], "12345678903", "2026-12-01"),  # the same reference twice
        (pending, "12345678904", "2026-12-01"),  # not approved
        ("SJ-ZZZZZZ", "12345678905", "2026-12-01"),  # unknown
        ("rubbish", "12345678906", "2026-12-01"),
        (approved[2], "12AB", "2026-12-01"),  # bad KPJ
        (approved[2], "12345678907", "31-02-2026"),  # no such date
    ])
    again = path.with_name("again.xlsx")
    shutil.copy(path, again)
    admin = Chat(svc, ADMIN)
    await admin.send(Document(str(path), "hasil.xlsx"))
    assert admin.keys == ["official.import.report"]
    assert not path.exists()  # the upload holds personal data: deleted once imported
    report = admin.text
    for row in (4, 5, 6, 7, 8, 9):
        assert f"Baris {row} " in report
    assert "Baris 2 " not in report and "Baris 3 " not in report
    enrolled = [o for o in admin.others if o.reply.key == "official.worker.enrolled"]
    assert [o.to for o in enrolled] == ["tg:500001", "tg:500002"]
    assert "Rp 42 juta" in enrolled[0].reply.text and "01-12-2026" in enrolled[0].reply.text
    first = await registration(svc, approved[0])
    assert (first.status, first.kpj, first.coverage_start) == ("enrolled", "12345678901", date(2026, 12, 1))
    assert (await registration(svc, approved[2])).status == "approved"
    # Importing the same file again changes nothing and tells nobody.
    await admin.send(Document(str(again), "hasil.xlsx"))
    assert admin.others == [] and "0 terdaftar" in admin.text


async def test_import_by_name_from_import_folder_and_refusals(svc, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    [reference] = await add_registrations(svc, 1, status="approved")
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "hasil.csv").write_text(f"referensi;kpj;tmt\n{reference};98765432101;02-01-2027\n")
    admin = Chat(svc, ADMIN)
    await admin("/impor ../../etc/hasil.csv")  # only a bare name inside the import folder counts
    assert admin.keys == ["official.import.report"]
    assert (await registration(svc, reference)).kpj == "98765432101"
    await admin("/impor tidak-ada.csv")
    assert admin.keys == ["official.import.no_file"]
    (tmp_path / "imports" / "kacau.csv").write_text("a,b\n1,2\n")
    await admin("/impor kacau.csv")
    assert admin.keys == ["official.import.bad_header"]
    operator = Chat(svc, OPERATOR)
    await operator.send(Document(str(tmp_path / "imports" / "hasil.csv"), "hasil.csv"))
    assert operator.keys[0] == "media.unsupported"  # not an importer: any other attachment


async def test_statistics_text_and_chart(svc, tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    await add_registrations(svc, 3, status="approved")
    await add_registrations(svc, 2, start=10)
    await add_registrations(svc, 4, KANDANG, start=40)
    admin = Chat(svc, ADMIN)
    await admin("/statistik")
    assert admin.keys[0] == "official.stats.text"
    assert "Semua pendaftaran: 9" in admin.text and "3 dari target kabupaten 30.000" in admin.text
    assert "• Sijunjung: 9 / 3 / 6" in admin.text
    with Image.open(admin.replies[0].image) as image:
        assert image.format == "PNG" and image.width > 100
    operator = Chat(svc, OPERATOR)
    await operator("/stats")
    assert "3 dari 100 terisi" in operator.text and "Menunggu pemeriksaan Anda: 2" in operator.text
    assert "Kandang Baru" not in operator.text


async def test_old_exports_are_deleted(svc, clock, tmp_path: Path) -> None:
    import os

    from handlers import officials
    from handlers.maintenance import run_due

    private_folders(svc, tmp_path)
    officials.install(svc)
    await add_officials(svc)
    await add_registrations(svc, 1, status="approved")
    operator = Chat(svc, OPERATOR)
    await operator("/ekspor")
    path = Path(operator.last.document)
    # Files are dated by the file system; the clock is moved past the retention instead.
    os.utime(path, (clock.now().timestamp(), clock.now().timestamp()))
    clock.advance(timedelta(hours=23))
    await run_due(svc)
    assert path.exists()
    clock.advance(timedelta(hours=2))
    await run_due(svc)
    assert not path.exists()
