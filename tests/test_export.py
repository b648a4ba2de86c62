"""`python -m bot export`: the BPJS list, the same rows and columns as the officials' /ekspor.
CSV that round-trips through the csv module and pandas with NIKs intact, XLSX a branch can upload
(text NIK and phone, date cells, labels, frozen header, filter, widths), approved-only unless
asked otherwise, and a closed pipe is not a traceback."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import os
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from collections.abc import Iterator

import pandas
import pytest
from openpyxl import load_workbook
from sqlalchemy import update

from bot.app import build_services
from bot.cli import main
from handlers.settings import PROJECT_ROOT
from bot.config import Environment
from handlers.clock import LOCAL_TZ, FixedClock
from handlers.export import BOM, ExportRequest, default_name, export_csv, export_xlsx, selection_of
from handlers.exports_bpjs import Selection, SelectionError, programme_contribution
from handlers.services import Services
from storage.models import Registration
from tests.conftest import GOOD_NIK, START, Chat, register
from tests.officials_support import KANDANG, add_registrations, nik
from tests.test_flow_registration import walk_to

HEADERS = ["REFERENSI", "NIK", "NAMA LENGKAP", "TGL LAHIR", "JENIS KELAMIN", "NO HP", "KECAMATAN", "NAGARI",
           "JORONG", "ALAMAT", "PEKERJAAN", "PENGHASILAN PER BULAN", "DASAR IURAN", "IURAN PER BULAN", "PROGRAM",
           "SUMBER DANA", "AHLI WARIS", "HUBUNGAN AHLI WARIS", "STATUS", "TGL KEPUTUSAN", "NO KPJ",
           "TMT KEPESERTAAN", "AKHIR KEPESERTAAN", "SUMBER PENDAFTARAN"]


async def csv_of(svc: Services, selection: Selection = Selection()) -> tuple[str, list[dict[str, str]]]:
    out = io.StringIO(newline="")
    count = await export_csv(svc, out, selection)
    text = out.getvalue()
    rows = list(csv.DictReader(io.StringIO(text.removeprefix(BOM), newline="")))
    assert count == len(rows)
    return text, rows


async def two_workers(svc: Services) -> tuple[str, str]:
    """Siti (petani, heir her husband) and Budi (lainnya: Penjahit, 5 juta, NIK from elsewhere),
    registered through the chat; then Siti approved and Budi enrolled at BPJS."""
    siti = await register(Chat(svc, "tg:1"))
    other = Chat(svc, "wa:6281311112222")
    await walk_to(other, "category")
    await other.tap("cat:lainnya")
    await other("Penjahit")
    await other("Budi Santoso")
    await other("1371050102900002")
    await other.tap("yn:no")
    await other("2 Feb 1990")
    for answer in ("Aie Amo", "Jorong Sawah", "0813-1111-2222"):
        await other(answer)
    await other.tap("inc:more")
    await other("5 juta")
    await other.tap("heir:skip")
    await other.tap("sum:send")
    assert other.keys == ["submit.done"]
    budi = other.text.split("SJ-")[1][:6]
    decided = datetime(2026, 11, 30, 20, 0, tzinfo=LOCAL_TZ)  # 30-11 in Sijunjung, 13:00 UTC
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == siti)
                              .values(status="approved", decided_at=decided))
        await session.execute(update(Registration).where(Registration.reference == f"SJ-{budi}")
                              .values(status="enrolled", decided_at=decided, kpj="26012345678",
                                      coverage_start=date(2026, 12, 1)))
        await session.commit()
    return siti, f"SJ-{budi}"


async def test_csv_is_plain_rfc4180_with_bom_labels_and_digits(any_svc: Services, tmp_path: Path) -> None:
    text, rows = await csv_of(any_svc)
    assert text == BOM + ",".join(HEADERS) + "\r\n" and rows == []  # nothing approved yet
    siti, budi = await two_workers(any_svc)
    text, rows = await csv_of(any_svc)
    assert text.startswith(BOM + "REFERENSI,NIK,") and text.endswith("\r\n") and '="' not in text
    assert [r["REFERENSI"] for r in rows] == [siti, budi]
    first, second = rows
    assert (first["NIK"], first["NO HP"], first["NAMA LENGKAP"]) == (GOOD_NIK, "+6281234567890", "Siti Rahmah")
    assert (first["TGL LAHIR"], first["JENIS KELAMIN"], first["PEKERJAAN"]) == ("12-03-1985", "Perempuan", "Petani/pekebun")
    assert (first["KECAMATAN"], first["NAGARI"], first["JORONG"]) == ("Sijunjung", "Muaro", "Koto Tuo")
    assert first["ALAMAT"] == "Jorong Koto Tuo, Nagari Muaro, Kec. Sijunjung, Kabupaten Sijunjung"
    assert (first["AHLI WARIS"], first["HUBUNGAN AHLI WARIS"]) == ("Ahmad Yani", "Suami/Istri")
    assert (first["PENGHASILAN PER BULAN"], first["DASAR IURAN"], first["IURAN PER BULAN"]) == (
        "1000000", "1000000", "16800")
    assert (first["SUMBER DANA"], first["STATUS"], first["TGL KEPUTUSAN"]) == ("APB Nagari", "Disetujui", "30-11-2026")
    assert (first["NO KPJ"], first["TMT KEPESERTAAN"], first["AKHIR KEPESERTAAN"]) == ("", "", "")
    # Budi declared 5 million; the programme still pays the lowest bracket for him.
    assert (second["NIK"], second["PEKERJAAN"], second["NAGARI"]) == ("1371050102900002", "Lainnya: Penjahit", "Aie Amo")
    assert (second["PENGHASILAN PER BULAN"], second["DASAR IURAN"], second["IURAN PER BULAN"]) == (
        "5000000", "1000000", "16800")
    assert (second["STATUS"], second["NO KPJ"], second["TMT KEPESERTAAN"], second["AKHIR KEPESERTAAN"]) == (
        "Terdaftar di BPJS", "26012345678", "01-12-2026", "01-12-2027")
    assert (second["AHLI WARIS"], second["HUBUNGAN AHLI WARIS"]) == ("", "")
    # Both wrote to the bot on their own (no link): tests/test_links.py exports a link's.
    assert (first["SUMBER PENDAFTARAN"], second["SUMBER PENDAFTARAN"]) == ("langsung", "langsung")

    path = tmp_path / "list.csv"
    path.write_text(text, encoding="utf-8", newline="")
    frame = pandas.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(frame.columns) == HEADERS
    assert list(frame["NIK"]) == [GOOD_NIK, "1371050102900002"]
    assert list(frame["NO HP"]) == ["+6281234567890", "+6281311112222"]
    # Read without types, a NIK is a 16-digit integer, still exact (int64 holds 19 digits).
    untyped = pandas.read_csv(path, encoding="utf-8-sig")
    assert [str(v) for v in untyped["NIK"]] == [GOOD_NIK, "1371050102900002"]


async def test_selection_by_status_nagari_and_day(svc: Services, clock) -> None:
    await add_registrations(svc, 2, status="approved")
    await add_registrations(svc, 1, start=10, status="pending")
    await add_registrations(svc, 1, start=20, status="rejected")
    clock.advance(timedelta(days=3))
    await add_registrations(svc, 1, KANDANG, start=30, status="enrolled")

    async def nik_of(request: ExportRequest) -> list[str]:
        return [r["NIK"] for r in (await csv_of(svc, await selection_of(svc, request)))[1]]

    assert await nik_of(ExportRequest()) == [nik(1), nik(2), nik(30)]
    assert await nik_of(ExportRequest(status="pending")) == [nik(10)]
    assert await nik_of(ExportRequest(status="pending, rejected")) == [nik(10), nik(20)]
    assert len(await nik_of(ExportRequest(status="all"))) == 5
    assert await nik_of(ExportRequest(nagari="kandang baru")) == [nik(30)]
    assert await nik_of(ExportRequest(nagari="13.03.04.2001")) == [nik(1), nik(2)]
    since = clock.now().astimezone(LOCAL_TZ).date().isoformat()
    assert await nik_of(ExportRequest(since=since)) == [nik(30)]
    assert await nik_of(ExportRequest(since=clock.now().astimezone(LOCAL_TZ).strftime("%d-%m-%Y"))) == [nik(30)]
    for bad, key in ((ExportRequest(status="accepted"), "report.export.bad_status"),
                     (ExportRequest(nagari="Atlantis"), "report.export.unknown_nagari"),
                     (ExportRequest(since="31-02-2026"), "report.export.bad_date")):
        with pytest.raises(SelectionError) as raised:
            await selection_of(svc, bad)
        assert raised.value.key == key and svc.catalog.has(key)
    assert default_name(svc, await selection_of(svc, ExportRequest()), "xlsx").startswith("peserta-disetujui-semua-")
    named = default_name(svc, await selection_of(svc, ExportRequest(status="pending", nagari="Muaro")), "csv")
    assert named.startswith("peserta-menunggu-1303042001-") and named.endswith(".csv")


async def test_xlsx_a_branch_can_upload(any_svc: Services, tmp_path: Path) -> None:
    siti, budi = await two_workers(any_svc)
    path = tmp_path / "list.xlsx"
    assert await export_xlsx(any_svc, path) == 2
    sheet = load_workbook(path).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == HEADERS and "NO KK" not in HEADERS
    assert rows[0][0].font.bold and sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:X3"
    assert sheet.column_dimensions["B"].width >= 18 and sheet.column_dimensions["J"].width >= 40
    column = {h: i for i, h in enumerate(HEADERS)}
    first, second = rows[1], rows[2]
    for row, expected in ((first, GOOD_NIK), (second, "1371050102900002")):
        cell = row[column["NIK"]]
        assert cell.value == expected and cell.data_type == "s" and cell.number_format == "@"
        phone = row[column["NO HP"]]
        assert phone.value.startswith("+62") and phone.data_type == "s" and phone.number_format == "@"
    born = first[column["TGL LAHIR"]]
    assert born.is_date and born.value.date() == date(1985, 3, 12) and born.number_format == "DD-MM-YYYY"
    assert first[column["TGL KEPUTUSAN"]].value.date() == date(2026, 11, 30)
    assert first[column["NO KPJ"]].value is None and first[column["TMT KEPESERTAAN"]].value is None
    kpj = second[column["NO KPJ"]]
    assert kpj.value == "26012345678" and kpj.data_type == "s" and kpj.number_format == "@"
    assert second[column["AKHIR KEPESERTAAN"]].value.date() == date(2027, 12, 1)
    assert second[column["PENGHASILAN PER BULAN"]].value == 5_000_000
    assert second[column["IURAN PER BULAN"]].value == 16_800
    assert second[column["IURAN PER BULAN"]].number_format == "#,##0"
    assert (first[column["JENIS KELAMIN"]].value, second[column["JENIS KELAMIN"]].value) == ("Perempuan", "Laki-laki")
    assert [first[column[h]].value for h in ("KECAMATAN", "NAGARI", "JORONG", "SUMBER DANA")] == [
        "Sijunjung", "Muaro", "Koto Tuo", "APB Nagari"]


def test_programme_contribution_is_the_lowest_bracket_on_the_day(svc: Services) -> None:
    paid = programme_contribution(svc, date(2026, 12, 1))
    assert (paid.income_base, paid.jkk, paid.jkm, paid.monthly) == (1_000_000, 10_000, 6_800, 16_800)


KEY = "e" * 48


@pytest.fixture
def cli_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database with 2 approved, 1 pending and 1 rejected registration, for the CLI (which
    reads its key from the environment); the root logging main() sets up is restored after."""
    monkeypatch.setenv("BOT_SECRET_KEY", KEY)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"

    async def seed() -> None:
        svc = await build_services(None, url, clock=FixedClock(START), env=Environment(secret_key=KEY))
        try:
            await add_registrations(svc, 2, status="approved")
            await add_registrations(svc, 1, start=10)
            await add_registrations(svc, 1, start=20, status="rejected")
        finally:
            await svc.db.dispose()

    asyncio.run(seed())
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield url
    root.handlers[:] = handlers
    root.setLevel(level)


def test_cli_xlsx_is_named_after_the_selection(cli_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # Without --out the file goes where the chat's exports go (officials.export_dir), never the
    # current folder: a config naming a folder under tmp_path keeps the project's var/ clean.
    exports = tmp_path / "exports"
    config = tmp_path / "config.yaml"
    config.write_text((PROJECT_ROOT / "config.yaml").read_text(encoding="utf-8").replace(
        "  export_dir: var/exports", f"  export_dir: {exports}"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["export", "--db", cli_url, "--config", str(config), "--format", "xlsx"]) == 0
    assert not list(tmp_path.glob("peserta-*.xlsx"))
    [path] = exports.glob("peserta-*.xlsx")
    assert path.name.startswith("peserta-disetujui-semua-")
    assert [r[1] for r in load_workbook(path).active.iter_rows(min_row=2, values_only=True)] == [nik(1), nik(2)]
    assert "2 registrations (disetujui) written" in capsys.readouterr().err
    assert main(["export", "--db", cli_url, "--format", "xlsx", "--status", "pending", "--nagari", "Muaro",
                 "--out", str(tmp_path / "chosen.xlsx")]) == 0
    rows = list(load_workbook(tmp_path / "chosen.xlsx").active.iter_rows(min_row=2, values_only=True))
    assert [r[1] for r in rows] == [nik(10)]


def test_cli_csv_on_stdout(cli_url: str, capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["export", "--db", cli_url, "--status", "all"]) == 0
    out = capsysbinary.readouterr().out
    assert out.startswith(b"\xef\xbb\xbfREFERENSI,NIK,") and out.count(b"\r\n") == 5
    rows = list(csv.DictReader(io.StringIO(out.decode("utf-8-sig"), newline="")))
    assert sorted(r["NIK"] for r in rows) == [nik(1), nik(2), nik(10), nik(20)]


def test_cli_refuses_an_unknown_status_kindly(cli_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--db", cli_url, "--status", "diterima"]) == 2
    assert "Unknown status" in capsys.readouterr().err


def test_a_closed_pipe_ends_the_export_quietly(cli_url: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`export | head`: the reader is gone before the first byte; no BrokenPipeError traceback."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = os.fdopen(write_end, "w")
    monkeypatch.setattr(sys, "stdout", stdout)
    try:
        assert main(["export", "--db", cli_url, "--status", "all"]) == 0
        stdout.write("after\n")
        stdout.flush()  # stdout now goes nowhere instead of raising at exit
    finally:
        stdout.close()
    assert "Traceback" not in capsys.readouterr().err


async def test_chat_export_states_a_non_default_selection(svc: Services, tmp_path: Path) -> None:
    """/ekspor uses the same rows and columns; another status than approved is in the file name."""
    from tests.officials_support import OPERATOR, add_officials, private_folders

    private_folders(svc, tmp_path)
    await add_officials(svc)
    await add_registrations(svc, 1, status="approved")
    await add_registrations(svc, 2, start=10)
    operator = Chat(svc, OPERATOR)
    await operator("/ekspor csv")
    assert operator.keys == ["official.export.done"] and "-disetujui-" in Path(operator.last.document).name
    await operator("/ekspor menunggu")
    assert operator.keys == ["report.export.done_status"]
    path = Path(operator.last.document)
    assert "-menunggu-" in path.name and path.suffix == ".xlsx"
    sheet = load_workbook(path).active
    assert [c.value for c in next(sheet.iter_rows())] == HEADERS
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == [nik(10), nik(11)]
