"""The NIK never reaches the logs, never appears in clear in any database row (registrations,
conversation drafts, audit trail, inbox), and is masked wherever a chat shows it.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import SQLModel

import storage.all_models  # noqa: F401  (every table, for the raw scan)
from conversations.events import Inbound, Text
from handlers.ingest import accept, drain
from handlers.router import dispatch
from handlers.services import Services
from storage.crypto import who
from tests.conftest import GOOD_NIK, Chat, RecordingSender, register
from tests.test_flow_registration import state_of, walk_to

OTHER_NIK = "1303050102900002"
OUTSIDE_NIK = "1371055203850001"
NIKS = (GOOD_NIK, OTHER_NIK, OUTSIDE_NIK)


def leaks(blob: str) -> list[str]:
    """NIKs found in a text, also when typed with separators (1303 0552 0385 0001)."""
    digits = re.sub(r"[ .\-]", "", blob)
    return [nik for nik in NIKS if nik in blob or nik in digits]


async def full_story(svc: Services) -> None:
    """A registration with mistakes, a duplicate, a correction of the NIK, a draft, an erasure."""
    first = Chat(svc, "tg:1")
    await walk_to(first, "nik")
    await first("1303 0552 0385 000")       # 15 digits
    await first("1303 0552 0385 00011")     # 17 digits
    await first("1303-0552-0385-0001")
    await first("kembali")
    await first(GOOD_NIK)
    await first.tap("yn:no")
    await first("13 Maret 1985")
    for step in ("Muaro", "Koto Tuo", "0812-3456-7890"):
        await first(step)
    await first.tap("inc:1000000")
    await first.tap("heir:skip")
    await first.tap("sum:send")
    assert first.keys == ["submit.done"]
    await first("ubah data")
    await first("3")
    await first(OUTSIDE_NIK)
    await first.tap("yn:yes")
    assert first.keys == ["correct.done"]

    second = Chat(svc, "wa:6281311112222")
    await walk_to(second, "nik")
    await second(OUTSIDE_NIK)                # someone else's: refused
    await second(OTHER_NIK)
    await second.tap("yn:yes")
    await second("data saya")
    for chat in (first, second):
        assert not leaks(chat.text)

    third = Chat(svc, "tg:3")
    await register(third, nik=GOOD_NIK)      # free again: the first person corrected theirs
    await third("hapus data")
    await third("ya")


async def test_no_nik_in_logs_at_debug(svc: Services, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await full_story(svc)
    assert caplog.records, "expected some logging at DEBUG"
    for record in caplog.records:
        rendered = record.getMessage() + (record.exc_text or "") + repr(record.args)
        assert not leaks(rendered), (record.name, rendered[:200])
    assert not leaks(caplog.text)


async def test_a_crash_inside_handling_logs_no_nik_and_loses_nothing(svc: Services, app_log: io.StringIO) -> None:
    chat = Chat(svc, "tg:1")
    await walk_to(chat, "nik")

    async def crash(turn: Any) -> None:
        # A library error quoting what the person typed, as int("...") or a driver might.
        raise ValueError(f"invalid literal for int() with base 10: '{GOOD_NIK}'")

    with pytest.MonkeyPatch.context() as patch:  # the turn fails after the flow ran, before commit
        patch.setattr("handlers.turn.Turn.finish", crash)
        outgoing = await dispatch(svc, chat.user, Text(GOOD_NIK))
    assert [o.reply.key for o in outgoing] == ["error.internal"]
    output = app_log.getvalue()
    assert f"failed to handle a Text from {who('tg:1')}" in output and "tg:1" not in output
    assert not leaks(output), output
    # Nothing was committed: the person is still asked for the NIK, and can answer again.
    state = await state_of(svc, chat.user)
    assert state.step == "nik" and "nik" not in state.answers
    await chat(GOOD_NIK)
    assert chat.keys == ["birth_confirm.prompt"]


async def raw_rows(svc: Services) -> Iterator[tuple[str, dict[str, Any]]]:
    async with svc.db.session() as session:
        rows: list[tuple[str, dict[str, Any]]] = []
        for table in SQLModel.metadata.sorted_tables:
            result = await session.execute(text(f'SELECT * FROM "{table.name}"'))
            rows.extend((table.name, dict(row._mapping)) for row in result)
    return iter(rows)


async def test_nik_is_encrypted_at_rest_everywhere(any_svc: Services) -> None:
    # An update recorded in the inbox, as a webhook would, and left unhandled for a moment.
    payload = {"text": f"NIK saya {GOOD_NIK}"}
    assert await accept(any_svc, "tg", "u-1", 1, "tg:8", payload)
    inbox_seen: list[dict[str, Any]] = [row for name, row in await raw_rows(any_svc) if name == "inbound_update"]
    assert inbox_seen and all(not leaks(repr(row)) for row in inbox_seen)

    await full_story(any_svc)
    draft = Chat(any_svc, "tg:9")
    await walk_to(draft, "birth_confirm", nik=OTHER_NIK)  # a draft waiting at its birth date

    def decode(data: dict[str, Any]) -> tuple[Inbound | None, str | None]:
        return Text(data["text"]), None

    any_svc.senders["tg"] = sender = RecordingSender("tg")
    assert await drain(any_svc, "tg:8", decode) == 1
    assert sender.sent

    tables_seen = set()
    for name, row in await raw_rows(any_svc):
        tables_seen.add(name)
        assert not leaks(repr(row)), (name, row)
    assert {"registration", "conversation", "auditevent", "inbound_update", "consent", "outbox"} <= tables_seen
