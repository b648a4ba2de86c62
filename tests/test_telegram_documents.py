"""Documents attached on Telegram ("/impor, with the file attached"): an admin's
enrolment results are downloaded through the Bot API (getFile, then the file URL) and imported;
a worker's document gets the flow's kind answer; a file of the wrong type or too big is answered
kindly and never written to disk. aiogram's real HTTP session against the fake Bot API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.documents import MAX_BYTES
from handlers.services import Services
from tests.fake_telegram import FakeTelegram, running_bot
from tests.officials_support import ADMIN, WORKER, add_officials, add_registrations, private_folders, registration


def user_id(channel_user: str) -> int:
    return int(channel_user.split(":", 1)[1])


def saved_files(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "imports"
    return sorted(folder.iterdir()) if folder.is_dir() else []


async def test_admin_sends_enrolment_csv_and_gets_the_import_report(svc: Services, fake: FakeTelegram,
                                                                    tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    [reference] = await add_registrations(svc, 1, status="approved")
    results = f"referensi;kpj;tmt\n{reference};98765432101;02-01-2027\n".encode()
    async with running_bot(svc, fake, webhook=True) as bot:
        admin = bot.person(user_id(ADMIN))
        await admin.send(admin.document_update("hasil_bpjs.csv", results, caption="/impor"))
        assert admin.said("official.import.report"), admin.keys
        assert "1 terdaftar" in admin.replies[0].text
    enrolled = await registration(svc, reference)
    assert (enrolled.status, enrolled.kpj) == ("enrolled", "98765432101")
    assert any(c.chat_id == 500001 and "98765432101" in c.text for c in fake.sent()), "the worker is told"
    # Downloaded once; deleted once imported (tests/test_documents.py: saved privately).
    assert len(fake.method_calls("getFile")) == 1 and len(fake.downloads) == 1
    assert saved_files(tmp_path) == []


async def test_worker_sending_a_document_gets_the_kind_answer(svc: Services, fake: FakeTelegram,
                                                              tmp_path: Path) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    async with running_bot(svc, fake, webhook=True) as bot:
        worker = bot.person(user_id(WORKER))
        await worker.say("halo")
        await worker.send(worker.document_update("data.csv", b"nama,nik\nSiti,1\n"))
        assert worker.said("media.unsupported"), worker.keys
        assert not worker.said("official.import.report")
        assert "lang:id" in worker.buttons  # and the question again


@pytest.mark.parametrize("name, size, announced", [
    ("kk.pdf", 1000, None),  # not a spreadsheet: never downloaded
    ("besar.csv", MAX_BYTES + 1, None),  # the update says it is too big
    ("besar.xlsx", MAX_BYTES + 1, 2048),  # the update's size is wrong; getFile's is right
])
async def test_wrong_type_or_oversized_document_is_refused_kindly(svc: Services, fake: FakeTelegram, tmp_path: Path,
                                                                  name: str, size: int, announced: int | None) -> None:
    private_folders(svc, tmp_path)
    await add_officials(svc)
    async with running_bot(svc, fake, webhook=True) as bot:
        admin = bot.person(user_id(ADMIN))
        await admin.send(admin.document_update(name, b"x" * size, size=announced))
        assert admin.said("media.unsupported"), admin.keys
        assert not admin.said("official.import.report")
    assert fake.downloads == [] and saved_files(tmp_path) == []
    assert len(fake.method_calls("getFile")) == (1 if announced else 0)
