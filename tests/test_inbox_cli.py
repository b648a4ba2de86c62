"""`python -m bot inbox list|show`: the set-aside updates, inspectable, never showing a NIK or
naming the person by their number."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import build_services
from bot.cli import main
from handlers.clock import FixedClock
from storage.inbox import Inbox
from tests.conftest import GOOD_NIK, START


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 48)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield tmp_path / "inbox.sqlite3"
    root.handlers[:] = handlers
    root.setLevel(level)


PAYLOAD = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": {
    "contacts": [{"wa_id": "6281234567890"}],
    "messages": [{"from": "6281234567890", "id": "wamid.ODD", "type": "text",
                  "text": {"body": f"nik saya {GOOD_NIK[:4]} {GOOD_NIK[4:8]} {GOOD_NIK[8:12]} {GOOD_NIK[12:]} / {GOOD_NIK}"}}]}}]}]}


async def _set_aside(path: Path) -> tuple[int, int]:
    svc = await build_services(None, f"sqlite:///{path}", clock=FixedClock(START))
    try:
        async with svc.db.session() as session:
            inbox = Inbox(session, svc.cipher)
            await inbox.record("wa", "wamid.ODD", 1, "wa:6281234567890", PAYLOAD, START)
            await inbox.record("wa", "wamid.FINE", 2, "wa:6281234567890", {"fine": True}, START)
            await session.commit()
            rows = {row.update_key: row.id for row in await inbox.set_aside_rows()}
            assert rows == {}
            odd = (await inbox.next_for("wa:6281234567890"))
            assert odd is not None and odd.id is not None
            await inbox.set_aside(odd.id, "text: KeyError reading the message", START)
            fine = await inbox.next_for("wa:6281234567890")
            assert fine is not None and fine.id is not None
            await inbox.finish(fine.id, START)
            await session.commit()
            return odd.id, fine.id
    finally:
        await svc.db.dispose()


def test_list_and_show_a_set_aside_update_with_the_nik_masked(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    odd, fine = asyncio.run(_set_aside(db))
    assert main(["inbox", "list", "--db", str(db)]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith(f"{odd}\twa\twamid.ODD\twa#") and "KeyError reading the message" in listed
    assert "6281234567890" not in listed and str(fine) + "\t" not in listed

    assert main(["inbox", "show", str(odd), "--db", str(db)]) == 0
    shown = capsys.readouterr().out
    assert GOOD_NIK not in shown and GOOD_NIK[4:8] not in shown.replace(" ", "")
    # The two spellings are one run of digit groups ("/" is a separator): the first 4 digits shown.
    assert "1303 **** **** **** / ****************" in shown
    body = json.loads(shown[shown.index("\n{", 10) + 1:])
    assert body["entry"][0]["changes"][0]["value"]["messages"][0]["id"] == "wamid.ODD"

    assert main(["inbox", "show", str(fine), "--db", str(db)]) == 0
    assert "payload erased" in capsys.readouterr().out
    assert main(["inbox", "show", "999", "--db", str(db)]) == 1


def test_an_empty_list_says_so(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inbox", "list", "--db", str(db)]) == 0
    assert "no updates set aside" in capsys.readouterr().out
