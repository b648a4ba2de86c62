"""Nothing waits unseen: a registration pending more than 3 days is reminded to its nagari's
operators, after 7 days it is escalated to the admins; a nagari without an operator is told to
the admins at its first submission and in every daily digest, which lists the backlog per
nagari. Times come from config.yaml (`programme.escalation`)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from handlers.services import Services
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
    await add_registrations(any_svc, 1, nagari_code=TIMBULUN, start=40)
    first = texts(await sim.clock(START + timedelta(minutes=1)), ADMIN)
    assert any("Timbulun" in t and ("/undang" if lang == "id" else "/invite") in t for t in first)
    await add_registrations(any_svc, 1, nagari_code=TIMBULUN, start=41)
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

    # Day 8: more than 7 days -> flagged to the admins in their digest.
    out = await sim.clock(at(date(2026, 12, 6), 8))
    (digest,) = texts(out, ADMIN)
    assert "⚠" in digest
    assert (await sent_keys(any_svc, ADMIN)).count("programme.digest.admin") == 4

    # Decided: nothing more for Muaro's operator.
    operator = Chat(any_svc, OPERATOR)
    for reference in muaro:
        await operator(f"/setujui {reference}")
    await sim.clock(at(date(2026, 12, 7), 8))
    # Reminded on the 2nd and the 6th (each morning while late), not after the decisions.
    assert (await sent_keys(any_svc, OPERATOR)).count("programme.pending.late") == 2


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
