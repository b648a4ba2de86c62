"""The officials' desk: approving says which quota it used and can be undone for a few minutes;
a mistyped or unknown reference gets "not in your nagari" (the same sentence whether or not it
exists elsewhere, never "not allowed"); admins' help lists /siaran; `officials add` refuses ids
that are not tg:<digits> or wa:<digits> and accepts a nagari by name."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Chat
from tests.officials_support import (
    ADMIN,
    KANDANG,
    MUARO,
    OPERATOR,
    add_officials,
    add_registrations,
    registration,
)
from tests.test_programme_withdrawal import set_lang


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_approval_names_the_quota_and_can_be_undone(any_svc: Any, clock: Any, lang: str) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, OPERATOR, lang)
    first, second = await add_registrations(any_svc, 2)
    operator = Chat(any_svc, OPERATOR)
    await operator(f"/setujui {first}")
    assert operator.keys == ["official.approve.done"]
    assert "2026" in operator.text and "Muaro" in operator.text and "1" in operator.text and "100" in operator.text
    assert f"off:undo:{first}" in operator.buttons()
    await operator.tap(f"off:undo:{first}")
    assert operator.keys == ["official.undo.done"]
    assert (await registration(any_svc, first)).status == "pending"
    assert [o.reply.key for o in operator.others] == ["official.worker.approval_undone"]
    # An approval older than the window cannot be undone.
    await operator(f"/setujui {second}")
    clock.advance(timedelta(minutes=any_svc.config.officials.undo_minutes + 1))
    await operator(f"/urungkan {second}" if lang == "id" else f"/undo {second}")
    assert operator.keys == ["official.undo.too_late"]
    assert (await registration(any_svc, second)).status == "approved"


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_unknown_and_foreign_references_read_the_same(svc: Any, lang: str) -> None:
    await add_officials(svc)
    await set_lang(svc, OPERATOR, lang)
    (foreign,) = await add_registrations(svc, 1, KANDANG)
    operator = Chat(svc, OPERATOR)
    answers = []
    for typed in ("SJ-ZZZZZZ", foreign, "zzzzzz"):
        await operator(f"/lihat {typed}")
        assert operator.keys == ["official.not_found"]
        answers.append(operator.text.replace(typed.upper() if typed.startswith("SJ") else "SJ-" + typed.upper(), "REF"))
    assert len(set(answers)) == 1
    assert svc.catalog.text(lang, "official.not_allowed") not in operator.text


async def test_admin_help_lists_broadcasts(svc: Any) -> None:
    await add_officials(svc)
    admin = Chat(svc, ADMIN)
    await admin("bantuan")
    assert "/siaran" in admin.text and "/tarik" in admin.text
    operator = Chat(svc, OPERATOR)
    await operator("bantuan")
    assert "/siaran" not in operator.text and "/tarik" in operator.text


def test_officials_add_checks_ids_and_takes_nagari_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 48)
    db = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    for bad in ("123456", "tg:abc", "telegram:1", "wa:+62 812", "tg:"):
        assert main(["officials", "--db", db, "add", bad, "--role", "admin"]) == 2, bad
    assert "tg:<Telegram user id>" in capsys.readouterr().err
    # A WhatsApp number as people write it is the id WhatsApp sends.
    assert main(["officials", "--db", db, "add", "wa:+62 812-3456-7890", "--role", "operator", "--nagari", "muaro"]) == 0
    assert main(["officials", "--db", db, "add", "tg:5", "--role", "operator", "--nagari", "Nowhere At All"]) == 2
    assert main(["officials", "--db", db, "list"]) == 0
    assert f"wa:6281234567890\toperator\tMuaro ({MUARO})" in capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("lang", ["id", "en"])
async def test_reject_or_correct_from_the_queue_asks_in_the_next_message(any_svc: Any, lang: str) -> None:
    await add_officials(any_svc)
    await set_lang(any_svc, OPERATOR, lang)
    first, second, third = await add_registrations(any_svc, 3)
    operator = Chat(any_svc, OPERATOR)
    await operator("/antrian")
    await operator.tap(f"off:ask:{first}")
    assert operator.keys == ["official.ask.which"]
    # Reject with a common reason: two taps, nothing typed.
    await operator.tap(f"off:rjpick:{first}")
    assert operator.keys == ["official.ask.reason"] and f"off:rjr:{first}:1" in operator.buttons()
    await operator.tap(f"off:rjr:{first}:1")
    assert operator.keys == ["official.reject.done"]
    rejected = await registration(any_svc, first)
    assert rejected.status == "rejected" and rejected.decision_reason == any_svc.catalog.text(lang, "official.reason.1")
    # Reject with a typed reason: the next message is the reason.
    await operator("/antrian")
    await operator.tap(f"off:ask:{second}")
    await operator.tap(f"off:rjpick:{second}")
    await operator("sudah pindah ke Padang")
    assert operator.keys == ["official.reject.done"]
    assert (await registration(any_svc, second)).decision_reason == "sudah pindah ke Padang"
    # A correction: the field by button (one name each, in the official's language), then why.
    await operator("/antrian")
    await operator.tap(f"off:ask:{third}")
    await operator.tap(f"off:fxpick:{third}")
    assert operator.keys == ["official.ask.field"]
    titles = [b.title for r in operator.replies for b in r.buttons]
    assert any_svc.catalog.text(lang, "summary.name") in titles and len(titles) == len(set(titles))
    await operator.tap(f"off:fxf:{third}:4")
    assert operator.keys == ["official.ask.fix_reason"]
    await operator("nama tidak sesuai KTP")
    assert operator.keys == ["official.fix.done"]
    assert (await registration(any_svc, third)).status == "correction"
    # The prompt is over: a plain message is not taken as a reason any more.
    await operator("terima kasih")
    assert "official.reject.done" not in operator.keys and "official.fix.done" not in operator.keys


async def test_another_command_ends_the_prompt(svc: Any) -> None:
    await add_officials(svc)
    (first,) = await add_registrations(svc, 1)
    operator = Chat(svc, OPERATOR)
    await operator("/antrian")
    await operator.tap(f"off:ask:{first}")
    await operator.tap(f"off:rjpick:{first}")
    await operator("/kuota")
    await operator("halo")
    assert (await registration(svc, first)).status == "pending"
