"""Assisted registration: the worker is told on their own phone (WhatsApp, by an approved
template: they never wrote to the bot); the operator is told the truth about it; an operator
registers workers of their own nagari only (admins: any nagari)."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.services import Services
from tests.conftest import GOOD_NIK, REGISTRATION, Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, OPERATOR, add_officials
from tests.test_programme_withdrawal import set_lang

WORKER_WA = "wa:6281234567890"  # the phone typed in conftest.REGISTRATION: 0812-3456-7890


async def walk(sim: SimDriver, who: str, nagari: str = "Muaro") -> list[dict[str, Any]]:
    out = await sim.say(who, "/daftarkan")
    for kind, value in REGISTRATION:
        value = nagari if value == "Muaro" else value
        out = await (sim.tap(who, value) if kind == "tap" else sim.say(who, value))
    return await sim.tap(who, "sum:send")


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_the_worker_is_told_on_their_own_whatsapp(any_svc: Services, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, OPERATOR, lang)
    sim = SimDriver(any_svc, clock)
    out = await walk(sim, OPERATOR)
    to_worker = [m for m in out if m["to"] == WORKER_WA]
    assert len(to_worker) == 1 and "SJ-" in to_worker[0]["text"]
    reference = "SJ-" + to_worker[0]["text"].split("SJ-")[1][:6]
    to_operator = "\n".join(m["text"] for m in out if m["to"] == OPERATOR)
    assert "812" in to_operator  # the worker's number, as the operator typed it
    assert any_svc.catalog.text(lang, "official.notice.whatsapp", phone="X").split("X")[0] in to_operator

    out = await sim.say(OPERATOR, f"/setujui {reference}")
    worker = [m for m in out if m["to"] == WORKER_WA]
    assert len(worker) == 1 and reference in worker[0]["text"]
    operator = [m["text"] for m in out if m["to"] == OPERATOR]
    assert len(operator) == 1
    told = any_svc.catalog.text(lang, "official.notice.whatsapp", phone="X").split("X")[0]
    assert told in operator[0]
    # Not the sentence that claims the worker was told in their chat.
    assert any_svc.catalog.text(lang, "official.notice.sent") not in operator[0]


async def test_without_whatsapp_the_operator_must_tell_the_worker(any_svc: Services) -> None:
    """No WhatsApp channel: nobody can reach the worker, and the operator is told so."""
    await add_officials(any_svc)
    operator = Chat(any_svc, OPERATOR)
    await operator("/daftarkan")
    for kind, value in REGISTRATION:
        await (operator.tap(value) if kind == "tap" else operator(value))
    await operator.tap("sum:send")
    in_person = any_svc.catalog.text("id", "official.notice.in_person", phone="X").split("X")[0]
    assert in_person in operator.text
    reference = "SJ-" + operator.text.split("SJ-")[1][:6]
    await operator(f"/setujui {reference}")
    assert operator.keys[0] == "official.approve.done" and in_person in operator.replies[0].text
    assert "Pendaftar sudah diberi tahu" not in operator.text


async def test_an_operator_registers_for_their_own_nagari_only(any_svc: Services, clock: Any) -> None:
    await add_officials(any_svc)
    sim = SimDriver(any_svc, clock)
    out = await walk(sim, OPERATOR, nagari="Kandang Baru")
    assert [m for m in out if m["to"] == WORKER_WA] == []
    assert any("Muaro" in m["text"] for m in out if m["to"] == OPERATOR)
    async with any_svc.db.session() as session:
        from sqlalchemy import func, select

        from storage.models import Registration

        assert (await session.execute(select(func.count()).select_from(Registration))).scalar_one() == 0
    # An admin may register for any nagari.
    out = await walk(sim, ADMIN, nagari="Kandang Baru")
    assert len([m for m in out if m["to"] == WORKER_WA]) == 1
    assert GOOD_NIK not in "".join(m["text"] for m in out)
