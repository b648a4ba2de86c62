"""Workers after they submit: writing again gets an answer that fits their status, in their
language, without the word "status"; a question adds a person to ask. A rejected worker may
register again (the official sees the earlier rejection); "mulai" from an opted-out worker only
turns messages back on; trying other people's NIKs counts as failed tries."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select, update

from handlers.services import Services
from storage.models import Registration
from tests.conftest import GOOD_NIK, REGISTRATION, Chat, register
from tests.officials_support import OPERATOR, add_officials, nik

HELLO = {"id": "halo", "en": "hello"}
QUESTION = {"id": "kapan saya dapat kartu?", "en": "when do I get my card?"}


async def set_row(svc: Services, reference: str, **values: Any) -> None:
    async with svc.db.session() as session:
        await session.execute(update(Registration).where(Registration.reference == reference).values(**values))
        await session.commit()


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_each_status_gets_its_own_answer(any_svc: Services, lang: str) -> None:
    await add_officials(any_svc)
    worker = Chat(any_svc, "tg:4401")
    reference = await register(worker, lang=lang)
    assert reference

    await worker(HELLO[lang])
    assert worker.keys == ["aftercare.pending"]
    assert "Muaro" in worker.text and "28-11-2026" in worker.text
    contact = any_svc.rules.help.for_nagari(None)
    assert contact not in worker.text

    await worker(QUESTION[lang])
    assert worker.keys == ["aftercare.pending"] and contact in worker.text

    operator = Chat(any_svc, OPERATOR)
    await operator(f"/setujui {reference}")
    await worker(HELLO[lang])
    assert worker.keys == ["aftercare.approved"] and "JMO" in worker.text

    await set_row(any_svc, reference, status="enrolled", kpj="26001234567", coverage_start=date(2026, 12, 1))
    await worker(QUESTION[lang])
    assert worker.keys == ["aftercare.enrolled"]
    for shown in ("26001234567", "01-12-2026", "30-11-2027", any_svc.rules.help.bpjs_branch, contact):
        assert shown in worker.text, shown
    # How to claim: the claim helper and the Solok branch; a death claim is not made in the JMO app.
    assert "Kantor Cabang Solok" in worker.text
    assert ("ketik *klaim*" if lang == "id" else "type *claim*") in worker.text
    assert ("bukan lewat aplikasi JMO" if lang == "id" else "not in the JMO app") in worker.text

    await set_row(any_svc, reference, status="waiting")
    await worker(HELLO[lang])
    assert worker.keys == ["aftercare.waiting"] and "1" in worker.text

    await set_row(any_svc, reference, status="rejected", decision_reason="NIK tidak sesuai KTP")
    await worker("why was I rejected?" if lang == "en" else "kenapa saya ditolak?")
    assert worker.keys == ["aftercare.rejected"]
    assert "NIK tidak sesuai KTP" in worker.text and contact in worker.text

    # The word "status" and the commands still work as before.
    await worker("status")
    assert worker.keys == ["status.text"]


async def test_a_rejected_worker_registers_again_and_the_official_sees_the_earlier_one(any_svc: Services) -> None:
    await add_officials(any_svc)
    worker = Chat(any_svc, "tg:4402")
    first = await register(worker)
    operator = Chat(any_svc, OPERATOR)
    await operator(f"/tolak {first} foto KTP tidak jelas")
    assert operator.keys == ["official.reject.done"]

    # The same NIK is no longer blocked by the rejected registration.
    await worker("halo")
    assert worker.keys == ["aftercare.rejected"] and "cmd:start" in worker.buttons()
    await worker.tap("cmd:start")
    for kind, value in REGISTRATION[1:]:
        await (worker.tap(value) if kind == "tap" else worker(value))
    assert worker.keys[-1] == "summary.prompt", worker.keys
    await worker.tap("sum:send")
    assert "submit.done" in worker.keys
    second = re.search(r"SJ-[A-Z0-9]{6}", worker.text).group(0)  # type: ignore[union-attr]
    assert second != first
    await operator(f"/lihat {second}")
    assert first in operator.text and "foto KTP tidak jelas" in operator.text
    async with any_svc.db.session() as session:
        statuses = sorted((await session.execute(select(Registration.status))).scalars().all())
    assert statuses == ["pending", "rejected"]


async def test_start_from_an_opted_out_worker_only_turns_messages_on(any_svc: Services) -> None:
    await add_officials(any_svc)
    worker = Chat(any_svc, "tg:4404")
    reference = await register(worker)
    await Chat(any_svc, OPERATOR)(f"/setujui {reference}")
    await worker("berhenti")
    assert worker.keys == ["optout.done"]
    await worker("mulai")
    assert worker.keys == ["optout.resumed"]
    await worker("status")
    assert worker.keys == ["status.text"] and "belum selesai" not in worker.text
    assert any_svc.catalog.text("id", "status.approved") in worker.text
    async with any_svc.db.session() as session:
        from storage.models import Person

        assert (await session.execute(select(Person.opted_out).where(
            Person.channel_user == worker.user))).scalar_one() is False


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_trying_other_peoples_niks_ends_with_the_help_contact(any_svc: Services, lang: str) -> None:
    await add_officials(any_svc)
    for serial in (1, 2, 3, 4):
        owner = Chat(any_svc, f"tg:45{serial:02d}")
        await register(owner, nik=nik(serial), lang=lang)
    prober = Chat(any_svc, "tg:4599")
    from tests.test_flow_registration import walk_to

    await walk_to(prober, "nik", lang=lang)
    for serial in (1, 2):
        await prober(nik(serial))
        assert prober.keys[0] == "nik.already_other"
    await prober(nik(3))
    assert prober.keys == ["nik.probe_limit"]
    contact = any_svc.rules.help.for_nagari(None)
    assert contact in prober.text
    # No fourth try, not even after starting again.
    await prober(nik(4))
    assert prober.keys == ["nik.probe_limit"]
    await prober("batal")
    await prober.tap("confirm:yes")
    await walk_to(prober, "nik", lang=lang)
    await prober(GOOD_NIK)
    assert prober.keys == ["nik.probe_limit"]
