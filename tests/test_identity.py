"""Person ids typed by officials and deployers are the ids the channels send: a WhatsApp number
in any usual form is one wa_id; an invalid one is refused in one line; ids stored in local form
by an earlier version are fixed by migration 0015."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from bot.cli import main
from conversations.identity import PersonIdError, normalised_or_same, person_id
from storage.db import alembic_config


@pytest.mark.parametrize("typed", [
    "wa:6281234567890", "wa:081234567890", "wa:0812-3456-7890", "wa:+62 812 3456 7890", "wa: 0812 3456 7890",
    "081234567890", "+6281234567890", "6281234567890", "0062 812-3456-7890", "WA:(0812) 3456-7890",
])
def test_a_whatsapp_number_in_any_usual_form_is_one_id(typed: str) -> None:
    assert person_id(typed) == "wa:6281234567890"


@pytest.mark.parametrize(("typed", "expected"), [
    ("tg:123456789", "tg:123456789"), ("TG: 42", "tg:42"),
    ("wa:US.13491208655302741918", "wa:US.13491208655302741918"),  # a business-scoped user id
])
def test_other_ids_keep_their_form(typed: str, expected: str) -> None:
    assert person_id(typed) == expected


@pytest.mark.parametrize("typed", ["wa:123", "wa:08123", "tg:abc", "sms:081234567890", "wa:", "siti", "wa:0812345678901234567"])
def test_an_invalid_id_is_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(PersonIdError) as refused:
        person_id(typed)
    assert typed.strip() in str(refused.value) or "phone number" in str(refused.value)


def test_stored_ids_that_are_not_typed_ones_stay() -> None:
    for stored in ("assist:tg:42", "local:siti", "wa:6281234567890", "wa:not-a-number"):
        assert normalised_or_same(stored) == stored


def test_the_cli_stores_the_id_whatsapp_sends(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "bot.sqlite3")
    assert main(["db", "upgrade", "--db", db]) == 0
    assert main(["officials", "add", "wa:0812-3456-7890", "--role", "admin", "--db", db]) == 0
    assert main(["officials", "list", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "wa:6281234567890\tadmin" in out and "0812" not in out.replace("6281234567890", "")
    assert main(["officials", "add", "wa:12345", "--role", "admin", "--db", db]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a person id" in err[0] and "Traceback" not in err[0]
    assert main(["officials", "remove", "+62 812 3456 7890", "--db", db]) == 0
    assert "1 role(s)" in capsys.readouterr().out


def _official_rows(path: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT channel_user, role, nagari_code, revoked_at IS NULL FROM official "
                                  "ORDER BY id").fetchall()


def test_migration_fixes_ids_stored_in_local_form(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    config = alembic_config(f"sqlite:///{path}")
    command.upgrade(config, "0014_recruitment_links")
    with sqlite3.connect(path) as connection:
        rows = [("wa:081234567890", "admin"), ("wa:081299998888", "viewer"), ("wa:6281299998888", "viewer"),
                ("tg:42", "admin")]
        connection.executemany("INSERT INTO official (channel_user, role, nagari_code, added_by, added_at) "
                               "VALUES (?, ?, NULL, 'cli', '2026-01-05 00:00:00+00:00')", rows)
    command.upgrade(config, "heads")
    assert _official_rows(path) == [
        ("wa:6281234567890", "admin", None, 1),
        ("wa:081299998888", "viewer", None, 0),  # the same grant exists under the right id: revoked
        ("wa:6281299998888", "viewer", None, 1),
        ("tg:42", "admin", None, 1),
    ]
