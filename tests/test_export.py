"""`export --format csv`: one row per registration, the columns the issue lists, full NIK and the
phone written as text (a spreadsheet must not turn them into numbers)."""

from __future__ import annotations

import csv
import io

from handlers.export import export_csv
from handlers.services import Services
from tests.conftest import GOOD_NIK, Chat, register
from tests.test_flow_registration import walk_to

ISSUE_COLUMNS = ("reference,status,nik,name,sex,birth_date,nagari_code,nagari,kecamatan,jorong,phone,category,"
                 "income_base,monthly_contribution,heir_name,heir_relation,channel_user,flags,created_at")


async def export(svc: Services, nagari: str | None = None) -> tuple[str, list[dict[str, str]]]:
    out = io.StringIO()
    count = await export_csv(svc, out, nagari)
    text = out.getvalue()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == len(rows)
    return text, rows


async def test_export_columns_and_text_cells(any_svc: Services) -> None:
    first = Chat(any_svc, "tg:1")
    reference = await register(first)
    other = Chat(any_svc, "wa:6281311112222")
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

    text, rows = await export(any_svc)
    assert text.splitlines()[0] == ISSUE_COLUMNS
    assert len(rows) == 2
    siti, budi = rows
    assert siti["reference"] == reference and siti["status"] == "pending"
    assert siti["nik"] == f'="{GOOD_NIK}"' and siti["phone"] == '="+6281234567890"'
    assert (siti["name"], siti["sex"], siti["birth_date"]) == ("Siti Rahmah", "P", "1985-03-12")
    assert (siti["nagari_code"], siti["nagari"], siti["kecamatan"], siti["jorong"]) == (
        "13.03.04.2001", "Muaro", "Sijunjung", "Koto Tuo")
    assert (siti["category"], siti["income_base"], siti["monthly_contribution"]) == ("petani", "1000000", "16800")
    assert (siti["heir_name"], siti["heir_relation"], siti["channel_user"], siti["flags"]) == (
        "Ahmad Yani", "suami_istri", "tg:1", "")
    assert siti["created_at"] == "2026-11-28T10:00:00+07:00"
    assert budi["nik"] == '="1371050102900002"' and budi["category"] == "lainnya: Penjahit"
    assert budi["flags"] == "birth_date_mismatch;nik_outside_regency"
    assert (budi["heir_name"], budi["heir_relation"]) == ("", "")
    # Budi declared Rp 5 juta; the nagari pays the programme's base (the lowest bracket).
    assert budi["nagari"] == "Aie Amo" and (budi["income_base"], budi["monthly_contribution"]) == ("1000000", "16800")

    _, only_muaro = await export(any_svc, nagari="13.03.04.2001")
    assert [r["reference"] for r in only_muaro] == [reference]


async def test_export_of_an_empty_database_is_just_the_header(svc: Services) -> None:
    text, rows = await export(svc)
    assert text == ISSUE_COLUMNS + "\n" and rows == []
