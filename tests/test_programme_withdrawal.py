"""Withdrawal (`/tarik`, `/withdraw`): an approved worker asks to delete their data (UU 27/2022,
answer within 3 x 24 hours). The operator is told at once, reminded after 48 hours, the admins
after 72; `/tarik REF alasan` erases the personal data (the record that it happened is kept),
frees the slot and approves the first on the waiting list, who is told."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from handlers import quota
from handlers.services import Services
from storage.models import AuditEvent, Registration
from tests.conftest import START, Chat, register
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, MUARO, OPERATOR, OTHER_OPERATOR, add_officials, add_registrations
from tests.test_reminders_rules import sent_keys


async def set_lang(svc: Services, user: str, lang: str) -> None:
    """The official's language (as if they had chosen it in a conversation)."""
    from storage.repo import Repository

    async with svc.db.session() as session:
        person = await Repository(session, svc.cipher).person(user, svc.clock.now(), lang)
        person.lang = lang
        await session.commit()


async def statuses(svc: Services) -> dict[str, str]:
    async with svc.db.session() as session:
        return dict((await session.execute(select(Registration.reference, Registration.status))).all())


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_withdrawal_erases_frees_the_slot_and_promotes(any_svc: Services, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    for official in (OPERATOR, ADMIN):
        await set_lang(any_svc, official, lang)
    operator, admin = Chat(any_svc, OPERATOR), Chat(any_svc, ADMIN)
    await admin("/kuota Muaro 2")
    worker = Chat(any_svc, "tg:4301")
    reference = await register(worker, lang=lang)
    (other,) = await add_registrations(any_svc, 1, start=10)
    (third,) = await add_registrations(any_svc, 1, start=11)
    await operator(f"/setujui {reference}")
    await operator(f"/setujui {other}")
    await operator(f"/setujui {third}")
    assert operator.keys == ["official.approve.waiting"]

    # The worker asks to delete; nothing waits unseen.
    await worker("hapus data" if lang == "id" else "delete my data")
    await worker.tap("confirm:yes")
    assert worker.keys == ["delete.requested"]
    sim = SimDriver(any_svc, clock)
    told = [m for m in await sim.clock(START + timedelta(minutes=1)) if m["to"] == OPERATOR]
    assert len(told) == 1 and reference in told[0]["text"] and ("/tarik" if lang == "id" else "/withdraw") in told[0]["text"]
    # Still paid for until withdrawn at BPJS: the slot is not yet free.
    async with any_svc.db.session() as session:
        assert (await quota.usage(session, any_svc.config.officials.quota, MUARO, 2026))["used"] == 2
    await sim.clock(START + timedelta(hours=47))
    assert await sent_keys(any_svc, OPERATOR) == ["programme.withdrawal.new"]
    await sim.clock(START + timedelta(hours=48, minutes=1))
    assert "programme.withdrawal.overdue" not in await sent_keys(any_svc, ADMIN)
    await sim.clock(START + timedelta(hours=72, minutes=1))
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.withdrawal.new") == 1
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.withdrawal.reminder") == 1
    assert (await sent_keys(any_svc, ADMIN)).count("programme.withdrawal.overdue") == 1
    # An operator of another nagari gets the same answer as for a reference that does not exist.
    other_operator = Chat(any_svc, OTHER_OPERATOR)
    await other_operator(f"/tarik {reference} sudah ditarik")
    unknown_answer = other_operator.keys
    await other_operator("/tarik SJ-ZZZZZZ sudah ditarik")
    assert other_operator.keys == unknown_answer

    await operator(f"/tarik {reference}")
    assert operator.keys == ["official.usage.withdraw"]
    await operator(f"/{'tarik' if lang == 'id' else 'withdraw'} {reference} sudah ditarik di BPJS 2026-12-01")
    assert operator.keys == ["official.withdraw.done"] and third in operator.text
    to_worker = [o.reply.key for o in operator.others if o.to == worker.user]
    assert to_worker == ["official.worker.withdrawn_erased"]
    promoted = [o for o in operator.others if o.reply.key == "official.worker.approved"]
    assert len(promoted) == 1 and third in promoted[0].reply.text
    # Personal data erased; the record that it happened kept; the waiting list moved up.
    assert await statuses(any_svc) == {other: "approved", third: "approved"}
    async with any_svc.db.session() as session:
        trail = (await session.execute(select(AuditEvent.action, AuditEvent.details)
                                       .where(AuditEvent.reference == reference))).all()
    assert ("withdrawn", True) in [(action, details.get("erased")) for action, details in trail]
    assert all(worker.user not in str(details) for _, details in trail)
    # Nothing more is reminded about it.
    await sim.clock(START + timedelta(days=5, hours=1))
    assert (await sent_keys(any_svc, ADMIN)).count("programme.withdrawal.overdue") == 1
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.withdrawal.reminder") == 1


async def test_withdrawing_an_active_participant_keeps_the_data_and_frees_the_slot(any_svc: Services) -> None:
    await add_officials(any_svc)
    operator = Chat(any_svc, OPERATOR)
    (first,) = await add_registrations(any_svc, 1, status="approved")
    await operator(f"/withdraw {first} meninggal dunia")
    assert operator.keys == ["official.withdraw.done_kept"]
    assert await statuses(any_svc) == {first: "withdrawn"}
    # Twice: the second says what it is and changes nothing.
    await operator(f"/tarik {first} lagi")
    assert operator.keys == ["official.withdraw.not_participant"]
    (pending,) = await add_registrations(any_svc, 1, start=50)
    await operator(f"/tarik {pending} belum disetujui")
    assert operator.keys == ["official.withdraw.not_participant"]
    assert (await statuses(any_svc))[pending] == "pending"
