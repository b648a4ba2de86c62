"""Nothing waits unseen: a registration pending more than 3 days is reminded to its nagari's
operators; after 7 days it is escalated to the admins in a message of its own (once per
registration: nagari, reference, days pending, whether the nagari has an operator); a nagari
without an operator is told to the admins at its first submission and in every daily digest,
which lists the backlog per nagari. Times come from config.yaml (`programme.escalation`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from handlers.services import Services
from storage.models import AuditEvent
from tests.conftest import START, Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, OPERATOR, add_officials, add_registrations
from tests.test_programme_withdrawal import set_lang
from tests.test_reminders_rules import at, sent_keys

TIMBULUN = "13.03.03.2001"  # no operator appointed


def texts(out: list[dict[str, Any]], to: str) -> list[str]:
    return [m["text"] for m in out if m["to"] == to]


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_pending_registrations_are_reminded_then_escalated(any_svc: Services, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    for official in (OPERATOR, ADMIN):
        await set_lang(any_svc, official, lang)
    muaro = await add_registrations(any_svc, 2)
    sim = SimDriver(any_svc, clock)

    # The first submission of a nagari without an operator: the admins, once.
    timbulun = await add_registrations(any_svc, 1, nagari_code=TIMBULUN, start=40)
    first = texts(await sim.clock(START + timedelta(minutes=1)), ADMIN)
    assert any("Timbulun" in t and ("/undang" if lang == "id" else "/invite") in t for t in first)
    timbulun += await add_registrations(any_svc, 1, nagari_code=TIMBULUN, start=41)
    await sim.clock(START + timedelta(minutes=2))
    assert (await sent_keys(any_svc, ADMIN)).count("programme.no_operator.first") == 1

    # Day 3 morning (less than 3 days): the daily digest, no late reminder yet.
    out = await sim.clock(at(date(2026, 12, 1), 8))
    assert "programme.pending.late" not in await sent_keys(any_svc, OPERATOR)
    (digest,) = texts(out, ADMIN)
    assert "Muaro" in digest and "Timbulun" in digest and "⚠" not in digest
    no_operator = any_svc.catalog.text(lang, "programme.digest.no_operator")
    assert [line for line in digest.splitlines() if "Timbulun" in line][0].endswith(no_operator)

    # Day 4: more than 3 days -> the operators of Muaro.
    out = await sim.clock(at(date(2026, 12, 2), 8))
    late = [t for t in texts(out, OPERATOR) if muaro[0] in t]
    assert len(late) == 1 and all(r in late[0] for r in muaro)
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.pending.late") == 1

    # Day 8: more than 7 days -> escalated to the admins in a message of its own, every
    # registration once with its nagari, days and operator; the digest still counts them.
    out = await sim.clock(at(date(2026, 12, 6), 8))
    (escalated,) = [t for t in texts(out, ADMIN) if t.startswith("⚠")]
    (digest,) = [t for t in texts(out, ADMIN) if not t.startswith("⚠")]
    assert "⚠" in digest
    assert all(reference in escalated for reference in [*muaro, *timbulun])
    staffed = any_svc.catalog.text(lang, "programme.escalation.staffed")
    unstaffed = any_svc.catalog.text(lang, "programme.escalation.unstaffed")
    lines = [line for line in escalated.splitlines() if line.startswith("•")]
    assert len(lines) == 4
    assert all(line.endswith(staffed) for line in lines if "Muaro" in line)
    assert all(line.endswith(unstaffed) for line in lines if "Timbulun" in line)
    assert (await sent_keys(any_svc, ADMIN)).count("programme.digest.admin") == 4
    # A later tick of the same morning escalates nothing again.
    await sim.clock(at(date(2026, 12, 6), 9))
    assert (await sent_keys(any_svc, ADMIN)).count("programme.escalation.admin") == 1

    # Decided: nothing more for Muaro's operator.
    operator = Chat(any_svc, OPERATOR)
    for reference in muaro:
        await operator(f"/setujui {reference}")
    await sim.clock(at(date(2026, 12, 7), 8))
    # Reminded on the 2nd and the 6th (each morning while late), not after the decisions.
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.pending.late") == 2
    # Timbulun's are still waiting, but each registration is escalated once: no new message.
    assert (await sent_keys(any_svc, ADMIN)).count("programme.escalation.admin") == 1


async def test_escalation_times_come_from_the_configuration(any_svc: Services, clock: Any) -> None:
    await add_officials(any_svc)
    escalation = any_svc.rules.programme.escalation.model_copy(update={"pending_operator_days": 1})
    any_svc.rules = any_svc.rules.model_copy(update={
        "programme": any_svc.rules.programme.model_copy(update={"escalation": escalation})})
    await add_registrations(any_svc, 1)
    sim = SimDriver(any_svc, clock)
    await sim.clock(at(date(2026, 11, 29), 8))
    assert "programme.pending.late" not in await sent_keys(any_svc, OPERATOR)
    await sim.clock(at(date(2026, 11, 30), 8))
    assert "programme.pending.late" in await sent_keys(any_svc, OPERATOR)


ESCALATION = {
    "id": ("⚠ Eskalasi: {count} pendaftaran menunggu keputusan lebih dari 7 hari.\n"
           "{lines}\n"
           "Lihat dengan /lihat REF dan tanyakan kepada operatornya; untuk nagari tanpa operator: "
           "/undang operator NAGARI, atau putuskan sendiri."),
    "en": ("⚠ Escalation: {count} registrations have waited for a decision for more than 7 days.\n"
           "{lines}\n"
           "See them with /show REF and ask their operator; for a nagari without an operator: "
           "/invite operator NAGARI, or decide yourself."),
}
LINE = {"id": "• {nagari}: {reference}, menunggu {days} hari, operator: {operator}",
        "en": "• {nagari}: {reference}, waiting {days} days, operator: {operator}"}
OPERATOR_WORDS = {"id": ("ada", "belum ada"), "en": ("yes", "none yet")}
HISTORY = {"id": "dieskalasi ke admin kabupaten", "en": "escalated to the regency's admins"}


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_escalation_transcript(any_svc: Services, clock: Any, lang: str) -> None:
    """The admin's escalation message as they read it, then only the newly overdue the next
    morning; nothing twice; the registration's history says it was escalated."""
    await add_officials(any_svc)
    await set_lang(any_svc, ADMIN, lang)
    yes, no = OPERATOR_WORDS[lang]
    # Submitted on 28-11 10:00 (Muaro, and Timbulun without an operator) and on 29-11 10:00.
    older, younger = await add_registrations(any_svc, 2, step=timedelta(days=1))
    (timbulun,) = await add_registrations(any_svc, 1, nagari_code=TIMBULUN, start=40)
    sim = SimDriver(any_svc, clock)

    def escalations(out: list[dict[str, Any]]) -> list[str]:
        return [t for t in texts(out, ADMIN) if t.startswith("⚠")]

    assert escalations(await sim.clock(at(date(2026, 12, 5), 8))) == []  # 6 days 22 hours
    lines = "\n".join([LINE[lang].format(nagari="Muaro", reference=older, days=7, operator=yes),
                       LINE[lang].format(nagari="Timbulun", reference=timbulun, days=7, operator=no)])
    assert escalations(await sim.clock(at(date(2026, 12, 6), 8))) == [ESCALATION[lang].format(count=2, lines=lines)]
    assert escalations(await sim.clock(at(date(2026, 12, 6), 9))) == []
    # The next morning: only the one that has now waited more than 7 days.
    lines = LINE[lang].format(nagari="Muaro", reference=younger, days=7, operator=yes)
    assert escalations(await sim.clock(at(date(2026, 12, 7), 8))) == [ESCALATION[lang].format(count=1, lines=lines)]
    assert escalations(await sim.clock(at(date(2026, 12, 8), 8))) == []
    # Each escalated once, and the trail says so.
    async with any_svc.db.session() as session:
        marks = (await session.execute(select(AuditEvent.reference).where(AuditEvent.action == "escalated"))).scalars()
        assert sorted(marks) == sorted([older, younger, timbulun])
    admin = Chat(any_svc, ADMIN)
    await admin(f"/riwayat {older}")
    assert HISTORY[lang] in admin.text
