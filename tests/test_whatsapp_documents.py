"""Documents attached on WhatsApp ("/impor, with the file attached"): an admin's
enrolment results are downloaded from the Cloud API (media URL, then the bytes with the access
token) and imported; a worker's document gets the flow's kind answer; a file of the wrong type or
too big is answered kindly and never left on disk. pywa's real client against the fake Graph API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from bot.documents import MAX_BYTES
from handlers.roles import grant
from handlers.services import Services
from tests.fake_graph import WA_ID, Harness, message, whatsapp_harness
from tests.officials_support import add_registrations, private_folders, registration

ADMIN_WA = f"wa:{WA_ID}"
WORKER_WA_ID = "6281299990001"


@pytest.fixture
async def wa(svc: Services, tmp_path: Path) -> AsyncIterator[Harness]:
    private_folders(svc, tmp_path)
    async with svc.db.session() as session:
        await grant(session, ADMIN_WA, "admin", None, "test", svc.clock.now())
        await session.commit()
    async with whatsapp_harness(svc) as harness:
        yield harness


def document(wa: Harness, name: str, content: bytes, wa_id: str = WA_ID, declared_size: int | None = None,
             caption: str = "/impor") -> dict[str, Any]:
    """A document message whose file the fake Graph API holds."""
    body = message("document", wa_id=wa_id)
    attached = body["entry"][0]["changes"][0]["value"]["messages"][0]["document"]
    attached.update(id=wa.graph.add_media(content, declared_size), filename=name, caption=caption)
    return body


def enrolment_xlsx(path: Path, reference: str) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(["Nomor Referensi", "No KPJ", "TMT"])
    sheet.append([reference, "12345678901", date(2026, 12, 1)])
    book.save(path)
    return path.read_bytes()


def saved_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "imports"
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_admin_sends_enrolment_xlsx_and_gets_the_import_report(wa: Harness, tmp_path: Path) -> None:
    [reference] = await add_registrations(wa.svc, 1, status="approved", channel_prefix="wa:62813")
    content = enrolment_xlsx(tmp_path / "upload.xlsx", reference)
    # The admin has written before: WhatsApp delivers free-form replies only within 24 hours
    # of the person's last message.
    await wa.send(message(text="halo"))
    sent = await wa.send(document(wa, "Hasil BPJS Desember.xlsx", content))
    assert wa.said(sent, "official.import.report")
    assert any("1 terdaftar" in r.text for r in sent if r.to == WA_ID)
    enrolled = await registration(wa.svc, reference)
    assert (enrolled.status, enrolled.kpj, enrolled.coverage_start) == ("enrolled", "12345678901", date(2026, 12, 1))
    # Downloaded once; deleted once imported (tests/test_documents.py: saved privately).
    assert len(wa.graph.downloads) == 1
    assert saved_files(tmp_path) == []


async def test_worker_sending_a_document_gets_the_kind_answer(wa: Harness) -> None:
    await wa.send(message(text="halo", wa_id=WORKER_WA_ID))
    sent = await wa.send(document(wa, "data.csv", b"nama,nik\nSiti,1\n", wa_id=WORKER_WA_ID, caption=""))
    assert wa.said(sent, "media.unsupported")
    assert not wa.said(sent, "official.import.report")
    assert sent[-1].choice_ids == ["lang:id", "lang:en"]  # and the question again


@pytest.mark.parametrize("name, size, declared, fetched", [
    ("kk.pdf", 1000, None, False),  # not a spreadsheet: never downloaded
    ("besar.csv", MAX_BYTES + 1, None, False),  # the media URL lookup says it is too big
    ("besar.csv", MAX_BYTES + 1, 2048, True),  # the lookup's size is wrong: the download stops
])
async def test_wrong_type_or_oversized_document_is_refused_kindly(wa: Harness, tmp_path: Path, name: str, size: int,
                                                                  declared: int | None, fetched: bool) -> None:
    await wa.send(message(text="halo"))
    sent = await wa.send(document(wa, name, b"x" * size, declared_size=declared))
    assert wa.said(sent, "media.unsupported")
    assert not wa.said(sent, "official.import.report")
    assert len(wa.graph.downloads) == (1 if fetched else 0)
    assert saved_files(tmp_path) == []
