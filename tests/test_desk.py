"""The officials' desk: officials write as people write, and the desk answers.

- 201 phrasings (tests/data/desk_phrasings.yaml: Indonesian, English, Minang) read as the
  intent they mean, and those that must not act do not;
- through the real turn, an operator's greeting, thanks or question gets the desk's summary
  (what waits, with buttons) and never the workers' welcome, consent or form; everyday
  phrasings run the commands; "daftar" lets the official register as a worker;
- a command without its reference shows the queue; several references are each handled;
  "setujui semua" lists and asks for one tap, the quota applying to each in turn;
- no desk answer echoes a NIK; an official is never reminded as a worker.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from conversations.desk import desk_intent
from handlers.services import Services
from storage.models import Registration
from tests.conftest import GOOD_NIK, Chat
from tests.fake_platform import SimDriver
from tests.officials_support import ADMIN, MUARO, OPERATOR, add_officials, add_registrations, nik
from tests.test_programme_withdrawal import set_lang
from tests.test_reminders_rules import sent_keys

PHRASINGS = yaml.safe_load((Path(__file__).parent / "data" / "desk_phrasings.yaml").read_text(encoding="utf-8"))
CASES = [(intent, str(text)) for intent, texts in PHRASINGS.items() for text in texts]
WORKER_STEPS = ("welcome", "consent", "lang.", "form.", "elig")


def test_the_corpus_is_large_and_in_three_languages() -> None:
    assert len(CASES) >= 150
    assert len(PHRASINGS["desk"]) >= 30  # phrasings that must not act


@pytest.mark.parametrize(("intent", "text"), CASES)
def test_each_phrasing_means_its_intent(intent: str, text: str) -> None:
    assert (desk_intent(text) or "desk") == intent


def worker_keys(keys: list[str]) -> list[str]:
    return [k for k in keys if k.startswith(WORKER_STEPS) or k in ("consent.prompt", "button.stale")]


async def statuses(svc: Services) -> dict[str, str]:
    async with svc.db.session() as session:
        return dict((await session.execute(select(Registration.reference, Registration.status))).all())


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_an_operator_is_answered_by_the_desk_never_by_the_workers_form(any_svc: Services, lang: str) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, OPERATOR, lang)
    await add_registrations(any_svc, 2)
    operator = Chat(any_svc, OPERATOR)
    before = await statuses(any_svc)
    for text in ("halo", "makasih", "ada yang baru?", "Assalamualaikum", "/start", "mulai", "👍", "jangan setujui semua",
                 "kapan rapat?", "/perintahaneh", "ya", "tidak"):
        await operator(text)
        assert operator.keys and worker_keys(operator.keys) == [], (text, operator.keys)
        assert operator.keys[0] in ("official.desk.summary", "official.queue.header"), (text, operator.keys)
    await operator("halo")
    assert "2" in operator.text and operator.last.buttons
    assert {b.id for b in operator.last.buttons} >= {"off:queue", "off:stats", "off:help"}
    assert await statuses(any_svc) == before  # nothing was decided by any of it


async def test_everyday_phrasings_run_the_commands(svc: Services, tmp_path: Path) -> None:
    from tests.officials_support import private_folders

    private_folders(svc, tmp_path)
    await add_officials(svc)
    await add_registrations(svc, 1, status="approved")
    await add_registrations(svc, 2, start=10)
    operator = Chat(svc, OPERATOR)
    await operator("siapa saja yang menunggu?")
    assert operator.keys[0] == "official.queue.header"
    await operator("tolong kirim daftar yang sudah disetujui")
    assert operator.keys[0] == "official.export.done"
    await operator("statistik dong")
    assert operator.keys and operator.keys[0].startswith("official.stats")
    await operator("gimana cara menyetujui?")
    assert operator.keys == ["official.desk.how_approve"]
    await operator("perintah apa saja?")
    assert operator.keys == ["official.help"]


async def test_an_official_who_says_daftar_registers_as_a_worker(svc: Services) -> None:
    await add_officials(svc)
    operator = Chat(svc, OPERATOR)
    await operator("daftar")
    assert worker_keys(operator.keys), operator.keys  # the workers' welcome
    await operator.tap("lang:id")
    assert "consent.prompt" in operator.keys
    await operator("ya")  # typed, at the consent question: the form's answer, not the desk's
    assert not any(k.startswith("official.desk") for k in operator.keys), operator.keys
    await operator("batal")
    await operator("ya")  # yes, cancel it
    # Cancelled: the desk again.
    await operator("halo")
    assert operator.keys[0] == "official.desk.summary"


async def test_a_command_without_a_reference_shows_the_queue(any_svc: Services) -> None:
    await add_officials(any_svc)
    await add_registrations(any_svc, 2)
    operator = Chat(any_svc, OPERATOR)
    for command in ("/setujui", "/tolak", "/lihat", "/riwayat"):
        await operator(command)
        assert operator.keys[:2] == ["official.reference.missing", "official.queue.header"], (command, operator.keys)
        assert any(b.id.startswith("off:approve:") for b in operator.replies[2].buttons)


async def test_several_references_are_each_handled_and_reported(any_svc: Services) -> None:
    await add_officials(any_svc)
    first, second = await add_registrations(any_svc, 2)
    operator = Chat(any_svc, OPERATOR)
    await operator(f"/setujui {first} {second} SJ-ZZZZZZ")
    assert operator.keys.count("official.approve.done") == 2
    assert first in operator.text and second in operator.text
    assert (await statuses(any_svc))[first] == (await statuses(any_svc))[second] == "approved"


async def test_approve_all_lists_asks_for_one_tap_and_keeps_the_quota(any_svc: Services) -> None:
    await add_officials(any_svc)
    admin, operator = Chat(any_svc, ADMIN), Chat(any_svc, OPERATOR)
    await admin("/kuota Muaro 2")
    references = await add_registrations(any_svc, 3)
    await operator("setujui semua")
    assert operator.keys == ["official.approve_all.confirm"]
    assert all(r in operator.text for r in references)
    assert set((await statuses(any_svc)).values()) == {"pending"}  # nothing yet: a tap confirms
    (confirm,) = [b for b in operator.last.buttons if b.id.startswith("off:apall:")]
    late = await add_registrations(any_svc, 1, start=90)  # arrives after the list was shown
    await operator.tap(confirm.id)
    assert operator.keys.count("official.approve.done") == 2 and "official.approve.waiting" in operator.keys
    found = await statuses(any_svc)
    assert [found[r] for r in references] == ["approved", "approved", "waiting"] and found[late[0]] == "pending"
    # The same tap again (a double tap, a resent update) decides nothing twice.
    from conversations.events import ButtonPress

    await operator.send(ButtonPress(confirm.id))
    assert "official.approve.done" not in operator.keys


async def test_no_desk_answer_echoes_a_nik(any_svc: Services) -> None:
    await add_officials(any_svc)
    operator = Chat(any_svc, OPERATOR)
    spaced = " ".join(GOOD_NIK[i:i + 4] for i in range(0, 16, 4))
    for text in (f"/lihat {GOOD_NIK}", f"/setujui {GOOD_NIK}", f"/riwayat {GOOD_NIK[:12]}", f"/lihat {spaced}",
                 f"/tolak {GOOD_NIK} salah"):
        await operator(text)
        shown = operator.text.replace(" ", "")
        assert GOOD_NIK[4:8] not in shown and GOOD_NIK[8:12] not in shown, (text, operator.text)


async def test_an_official_is_never_reminded_as_a_worker(any_svc: Services, clock: Any) -> None:
    await add_officials(any_svc)
    sim = SimDriver(any_svc, clock)
    await sim.say(OPERATOR, "daftar")
    await sim.tap(OPERATOR, "lang:id")  # an unfinished registration of their own
    await sim.clock(clock.now() + timedelta(hours=25))
    await sim.clock(clock.now() + timedelta(hours=73))
    assert not [k for k in await sent_keys(any_svc, OPERATOR) if k.startswith("reminder.unfinished")]
    assert nik(1)  # the helpers' NIKs stay valid
    assert MUARO


@pytest.mark.parametrize(("typed", "code", "shared"), [
    ("Sijunjung", "13.03.04.2009", True), ("Lubuak Tarok", "13.03.07.2001", True), ("lubuk tarok", "13.03.07.2001", True),
    ("Tanjung Gadang", "13.03.03.2002", True), ("Muara", "13.03.04.2001", False), ("Muaro", "13.03.04.2001", False)])
async def test_a_nagari_argument_means_the_nagari_and_shows_its_code(any_svc: Services, typed: str, code: str,
                                                                    shared: bool) -> None:
    await add_officials(any_svc)
    admin = Chat(any_svc, ADMIN)
    await admin(f"/kuota {typed} 7")
    assert admin.keys == ["official.quota.set"] or admin.keys[0] == "official.quota.view", admin.keys
    await admin(f"/kuota {typed}")
    assert admin.keys == ["official.quota.view"] and f"({code})" in admin.text and ": 7" in admin.text
    assert (("kecamatan" in admin.text) == shared), admin.text


def test_the_command_line_takes_a_shared_name_as_the_nagari_and_prints_its_code(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 48)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    db = str(tmp_path / "cli.sqlite3")
    assert main(["officials", "add", "tg:123456", "--role", "operator", "--nagari", "Sijunjung", "--db", db]) == 0
    captured = capsys.readouterr()
    assert "Sijunjung (13.03.04.2009)" in captured.out and "kecamatan" in captured.err
    assert main(["officials", "add", "tg:123457", "--role", "operator", "--nagari", "Muara", "--db", db]) == 0
    assert "Muaro (13.03.04.2001)" in capsys.readouterr().out
    assert main(["officials", "list", "--db", db]) == 0
    listed = capsys.readouterr().out
    assert "Sijunjung (13.03.04.2009)" in listed and "Muaro (13.03.04.2001)" in listed
