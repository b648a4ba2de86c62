"""The command line, in-process: `db upgrade`, `run` without tokens (a terminal chat in which a
whole registration completes), `chat`, and `export` of what was registered."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import pytest

from bot.cli import build_parser, database_arg, main
from tests.conftest import GOOD_NIK

# What a person types in the terminal: numbers pick the buttons shown.
TERMINAL_SCRIPT = [
    "halo", "1",            # Bahasa Indonesia
    "/foto",                # a photo: asked to type instead
    "1", "1", "2", "1",     # consent, lives in Sijunjung, not a member, own account
    "1",                    # petani
    "Siti Rahmah", GOOD_NIK, "1",
    "Muaro", "Koto Tuo", "/kontak +6281234567890",
    "1",                    # income up to 1 juta
    "Ahmad Yani", "1",      # heir, husband/wife
    "2", "Siti Rahmah",     # at the summary a number is its item: the name, given again
    "kirim",                # send (the summary's own numbers never tap its buttons)
    "/keluar",
]


class Terminal(io.StringIO):
    """What a person types, read as from a terminal (`run` without a channel chats only then)."""

    def isatty(self) -> bool:
        return True


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key from the environment (export must decrypt what the chat stored) and no tokens."""
    monkeypatch.setenv("BOT_SECRET_KEY", "s" * 48)
    monkeypatch.setenv("BOT_SECRET_KEY_FILE", str(tmp_path / "unused.key"))
    for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "WHATSAPP_TOKEN", "WHATSAPP_PHONE_ID", "WHATSAPP_APP_SECRET",
                 "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path / "bot.sqlite3"


def test_db_upgrade_is_idempotent(cli_env: Path) -> None:
    assert main(["db", "upgrade", "--db", str(cli_env)]) == 0
    assert main(["db", "upgrade", "--db", f"sqlite:///{cli_env}"]) == 0
    with sqlite3.connect(cli_env) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"registration", "conversation", "consent", "nagari", "auditevent", "alembic_version"} <= tables


def test_run_without_tokens_is_a_terminal_chat_that_registers(cli_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", Terminal("\n".join(TERMINAL_SCRIPT) + "\n"))
    assert main(["run", "--db", str(cli_env), "--as", "tg:7"]) == 0
    captured = capsys.readouterr()
    assert "terminal chat" in captured.err
    assert "[1] Bahasa Indonesia" in captured.out and "Langkah 13 dari 13" in captured.out
    assert "Terima kasih" in captured.out and "SJ-" in captured.out
    assert GOOD_NIK not in captured.out

    out = cli_env.parent / "export.csv"
    # Approved registrations only by default (the BPJS list): this one is still pending.
    assert main(["export", "--db", str(cli_env), "--format", "csv", "--out", str(out), "--status", "all"]) == 0
    (row,) = list(csv.DictReader(out.open(encoding="utf-8-sig", newline="")))
    assert row["NIK"] == GOOD_NIK and row["STATUS"] == "Menunggu pemeriksaan"
    assert row["NO HP"] == "+6281234567890" and row["HUBUNGAN AHLI WARIS"] == "Suami/Istri"
    assert "1 registrations (semua-status) written" in capsys.readouterr().err


def test_chat_as_a_whatsapp_user(cli_env: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("halo\n2\n/keluar\n"))
    assert main(["chat", "--db", str(cli_env), "--as", "wa:6281234567890"]) == 0
    out = capsys.readouterr().out
    assert "Step 1 of 13" in out and "[1] Yes, I agree" in out


def test_database_argument_takes_urls_and_files(tmp_path: Path) -> None:
    assert database_arg("postgresql://u@db/bot") == "postgresql://u@db/bot"
    assert database_arg(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path / 'x.db'}"
    args = build_parser().parse_args(["simulate", "--db", "var/x.sqlite3", "--now", "2026-11-28T10:00:00+07:00"])
    assert args.db.startswith("sqlite:////") and args.db.endswith("/var/x.sqlite3")


def test_unknown_commands_are_refused() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["fly"])
    assert raised.value.code == 2
    with pytest.raises(SystemExit):
        main(["export", "--format", "xls"])


def test_the_version_is_the_one_in_pyproject(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    expected = tomllib.loads(Path("pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"python -m bot {expected}"
    changelog = Path("CHANGELOG.md").read_text(encoding="utf-8")
    assert f"## {expected} " in changelog  # every version has its entry
