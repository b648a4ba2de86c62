"""Assisted registration (an operator registers a worker in person), the operators' digest of
new registrations (a due job, at most one message per interval), a transcript through the
simulator, the `officials` command line, and the catalogs."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.simulate import Simulator
from conversations.events import ButtonPress
from conversations.i18n import Catalog, placeholders
from handlers import officials
from handlers.maintenance import run_due
from storage.models import Consent
from tests.conftest import GOOD_NIK, REGISTRATION, Chat
from tests.officials_support import (
    KANDANG,
    MUARO,
    OPERATOR,
    OTHER_OPERATOR,
    add_officials,
    add_registrations,
    registration,
)


async def walk_registration(chat: Chat, nik: str = GOOD_NIK) -> str:
    for kind, value in REGISTRATION:
        value = nik if value == GOOD_NIK else value
        await (chat.tap(value) if kind == "tap" else chat(value))
    await chat.tap("sum:send")
    assert "submit.done" in chat.keys, chat.keys
    return chat.text.split("SJ-")[1][:6]


async def test_operator_registers_a_worker_in_person(svc) -> None:
    await add_officials(svc)
    operator = Chat(svc, OPERATOR)
    await operator("/daftarkan")
    assert operator.keys == ["official.assist.start", "welcome"]
    reference = "SJ-" + await walk_registration(operator)
    assisted = await registration(svc, reference)
    assert assisted.channel_user == f"assist:{OPERATOR}" and assisted.status == "pending"
    async with svc.db.session() as session:
        consent = (await session.execute(select(Consent).where(Consent.id == assisted.consent_id))).scalar_one()
    assert (consent.method, consent.given_to) == ("in_person", OPERATOR)
    # The assisted conversation is over: the operator's commands work, decisions come back to them.
    await operator(f"/setujui {reference}")
    assert operator.keys[0] == "official.approve.done"
    await operator("/daftarkan")
    await operator("/antrian")  # official commands keep working in the middle of an assisted form
    assert operator.keys == ["official.queue.empty"]
    await operator.send(ButtonPress("lang:id"))  # the language buttons of the message before
    assert operator.keys == ["consent.prompt"]


async def test_correction_of_an_assisted_registration_goes_to_its_operator(svc) -> None:
    await add_officials(svc)
    operator = Chat(svc, OPERATOR)
    await operator("/daftarkan")
    reference = "SJ-" + await walk_registration(operator)
    await operator(f"/perbaiki {reference} jorong salah tulis")
    assert operator.keys == ["official.fix.done", "official.worker.correction", "jorong.prompt"]
    await operator("Koto Baru")
    assert operator.keys[-1] == "correct.done"
    fixed = await registration(svc, reference)
    assert (fixed.jorong, fixed.status) == ("Koto Baru", "pending")


async def test_digest_at_most_once_per_interval(svc, clock) -> None:
    await add_officials(svc)
    officials.install(svc)
    officials.install(svc)
    assert [svc.due_jobs.count(job) for job in officials.DUE_JOBS] == [1] * len(officials.DUE_JOBS)
    clock.advance(timedelta(minutes=1))
    await add_registrations(svc, 3)
    clock.advance(timedelta(minutes=1))
    messages = await run_due(svc)
    digests = [(to, reply.key) for to, reply in messages if reply.key == "official.digest"]
    assert digests == [(OPERATOR, "official.digest")]
    assert "3" in next(r.text for to, r in messages if to == OPERATOR)
    await add_registrations(svc, 1, start=20)
    clock.advance(timedelta(minutes=5))
    assert [m for m in await run_due(svc) if m[1].key == "official.digest"] == []
    clock.advance(timedelta(minutes=10))
    later = [(to, r) for to, r in await run_due(svc) if r.key == "official.digest"]
    assert [to for to, _ in later] == [OPERATOR] and "1 " in later[0][1].text
    await add_registrations(svc, 1, KANDANG, start=40)
    clock.advance(timedelta(minutes=16))
    assert [to for to, r in await run_due(svc) if r.key == "official.digest"] == [OTHER_OPERATOR]


async def test_simulator_transcript(svc, clock) -> None:
    """The same commands through `python -m bot simulate`'s JSON lines (in process)."""
    await add_officials(svc)
    officials.install(svc)
    [reference] = await add_registrations(svc, 1)
    lines = [
        {"from": OPERATOR, "text": "antrian"},
        {"from": OPERATOR, "button": f"off:approve:{reference}"},
        {"from": OPERATOR, "text": f"/lihat {reference}"},
        {"from": "tg:4242", "text": f"/setujui {reference}"},
        {"clock": (clock.now() + timedelta(minutes=20)).isoformat()},
    ]
    out = io.StringIO()
    simulator = Simulator(svc, clock, out)
    await simulator.run(io.StringIO("".join(json.dumps(line) + "\n" for line in lines)))
    sent = [json.loads(line) for line in out.getvalue().splitlines()]
    messages = [m for m in sent if "to" in m]
    assert any(m["to"] == OPERATOR and any(b["id"] == f"off:approve:{reference}" for b in m["buttons"])
               for m in messages)
    assert any(m["to"] == "tg:500001" and "disetujui" in m["text"] for m in messages)
    assert any(m["to"] == "tg:4242" and "tidak berhak" in m["text"] for m in messages)
    assert (await registration(svc, reference)).status == "approved"


def test_officials_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 48)
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    assert main(["officials", "--db", db, "add", "tg:1", "--role", "admin"]) == 0
    assert main(["officials", "--db", db, "add", "tg:2", "--role", "operator", "--nagari", MUARO]) == 0
    assert main(["officials", "--db", db, "add", "tg:3", "--role", "operator"]) == 2
    assert main(["officials", "--db", db, "list"]) == 0
    assert main(["officials", "--db", db, "remove", "tg:2"]) == 0
    assert main(["officials", "--db", db, "list"]) == 0
    output = capsys.readouterr().out.splitlines()
    assert output[-1] == "tg:1\tadmin\t-"
    assert f"tg:2\toperator\tMuaro ({MUARO})" in output


def test_catalogs_complete_in_both_languages() -> None:
    catalog = Catalog.load(("id", "en"))
    keys = {k for k in catalog.messages["id"] if k.startswith("official.")}
    assert keys == {k for k in catalog.messages["en"] if k.startswith("official.")}
    for key in keys:
        assert placeholders(catalog.messages["id"][key]) == placeholders(catalog.messages["en"][key]), key
    code = "".join(p.read_text() for p in Path("handlers").glob("*.py")) + Path("conversations/officials.py").read_text()
    import re

    for used in set(re.findall(r'"(official\.[a-z_.]+)"', code)):
        assert used in keys or any(k.startswith(used) for k in keys), used
