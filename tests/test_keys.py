"""The encryption key kept safe: the database records its key's fingerprint, a start-up with
another key is refused before anything is written (SQLite and PostgreSQL), the generated key's
warning says how to keep it, and `keys rotate` moves every encrypted value to a new key --
resumably -- recomputing the lookup hashes."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import stat
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import text
from sqlmodel import SQLModel

from bot.app import build_services
from bot.cli import main
from bot.config import ConfigError, Environment
from handlers.clock import FixedClock
from handlers.services import Services
from storage.crypto import NikCipher, load_master_key
from storage.inbox import Inbox, InboundUpdate
from storage.keyring import ENCRYPTED_COLUMNS, KeyFingerprint, rotate
from storage.outbox import OutboxMessage
from storage.repo import Repository
from storage.tickets import Ticket, TicketMessage
from storage.whatsapp import OutboundMessage
from tests.conftest import GOOD_NIK, REGISTRATION, Chat, register

OTHER_NIK = "1303054506900002"
TABLES = ("registration", "conversation", "person", "consent", "inbound_update", "auditevent", "key_fingerprint",
          "alembic_version", "nagari")


def env_with(key: str, tmp_path: Path) -> Environment:
    return Environment(secret_key=key, secret_key_file=tmp_path / "unused.key")


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'keys.sqlite3'}"
    return request.getfixturevalue("postgres_url")


async def snapshot(svc: Services) -> dict[str, Any]:
    """Every row of the tables start-up could write, to prove nothing changed."""
    out: dict[str, Any] = {}
    async with svc.db.session() as session:
        for table in TABLES:
            rows = (await session.execute(text(f"SELECT * FROM {table}"))).all()
            out[table] = sorted(repr(tuple(row)) for row in rows)
    return out


async def populated(url: str, key: str, tmp_path: Path, clock: FixedClock) -> Services:
    """A database with a submitted registration, an unfinished draft holding a NIK, an inbox row,
    a held WhatsApp message (a token of the form earlier versions wrote), a queued reply, a help-desk ticket with a message and an audit event
    holding encrypted details, under `key`."""
    svc = await build_services(None, url, clock=clock, env=env_with(key, tmp_path))
    assert await register(Chat(svc, "tg:1001")) is not None
    await register(Chat(svc, "tg:1002"), nik=OTHER_NIK, submit=False)  # the draft keeps the NIK
    async with svc.db.session() as session:
        await Inbox(session, svc.cipher).record("tg", "u-1", 1, "tg:1003", {"text": OTHER_NIK}, clock.now())
        session.add(OutboundMessage(channel_user="wa:6281234567890", kind="held", status="waiting",
                                    body_enc=earlier_token(key.encode(), json.dumps({"text": GOOD_NIK})),
                                    created_at=clock.now(), updated_at=clock.now()))
        session.add(OutboxMessage(kind="reply", channel_user="tg:1003", key="summary.show",
                                  body_enc=svc.cipher.encrypt(json.dumps({"text": f"NIK {GOOD_NIK}"})),
                                  not_before=clock.now(), created_at=clock.now()))
        ticket = Ticket(channel_user="tg:1003", question_enc=svc.cipher.encrypt(f"NIK saya {OTHER_NIK} ditolak?"),
                        opened_at=clock.now(), last_activity_at=clock.now())
        session.add(ticket)
        await session.flush()
        session.add(TicketMessage(ticket_id=ticket.id, author="tg:1003", direction="in",
                                  body_enc=svc.cipher.encrypt("tolong bantu"), at=clock.now()))
        await Repository(session, svc.cipher).audit("tg:9", "note", clock.now(), None,
                                                    evidence_enc=svc.cipher.encrypt("12345"), nested=[{"x_enc": svc.cipher.encrypt("67")}])
        await session.commit()
    return svc


async def test_the_fingerprint_is_recorded_and_another_key_is_refused_before_anything_is_written(
        url: str, tmp_path: Path, clock: FixedClock) -> None:
    key, other = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    svc = await populated(url, key, tmp_path, clock)
    async with svc.db.session() as session:
        row = await session.get(KeyFingerprint, 1)
    assert row is not None and row.fingerprint == svc.cipher.fingerprint and key not in row.fingerprint
    before = await snapshot(svc)
    with pytest.raises(ConfigError) as refused:
        await build_services(None, url, clock=clock, env=env_with(other, tmp_path))
    message = str(refused.value.code)
    assert "\n" not in message and "BOT_SECRET_KEY is not the key this database is encrypted with" in message
    assert NikCipher(other.encode()).fingerprint in message and "nothing was written" in message
    assert await snapshot(svc) == before
    # The right key still starts, and finds the NIK it registered (no second registration).
    again = await build_services(None, url, clock=clock, env=env_with(key, tmp_path))
    async with again.db.session() as session:
        assert (await Repository(session, again.cipher).registration_by_nik(GOOD_NIK)) is not None
    await again.db.dispose()
    await svc.db.dispose()


async def test_the_command_line_refuses_another_key_in_one_line(
        url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = secrets.token_urlsafe(48)
    svc = await populated(url, key, tmp_path, clock)
    before = await snapshot(svc)
    monkeypatch.setenv("BOT_SECRET_KEY", secrets.token_urlsafe(48))
    out = tmp_path / "export.csv"
    assert await _main_aside(["export", "--db", url, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "keys rotate" in err
    assert not out.exists() and await snapshot(svc) == before
    await svc.db.dispose()


async def _main_aside(argv: list[str]) -> int:
    """main() runs its own event loop: run it in a thread beside the test's loop."""
    import asyncio

    return await asyncio.to_thread(main, argv)


async def test_a_database_from_before_fingerprints_is_checked_by_decrypting(
        tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    key = secrets.token_urlsafe(48)
    svc = await populated(url, key, tmp_path, clock)
    async with svc.db.session() as session:
        await session.execute(text("DELETE FROM key_fingerprint"))
        await session.commit()
    with pytest.raises(ConfigError, match="not recorded; its NIKs do not decrypt"):
        await build_services(None, url, clock=clock, env=env_with(secrets.token_urlsafe(48), tmp_path))
    again = await build_services(None, url, clock=clock, env=env_with(key, tmp_path))
    async with again.db.session() as session:
        assert (await session.get(KeyFingerprint, 1)).fingerprint == again.cipher.fingerprint
    await again.db.dispose()
    await svc.db.dispose()


def test_the_generated_key_is_private_and_its_warning_says_how_to_keep_it(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    key_file = tmp_path / "var" / "secret.key"
    with caplog.at_level(logging.WARNING, logger="storage.crypto"):
        key = load_master_key("", key_file)
    assert len(key) >= 32 and load_master_key("", key_file) == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    warning = caplog.records[-1].getMessage()
    assert f"BOT_SECRET_KEY=$(cat {key_file})" in warning and "copy of the key" in warning
    assert key.decode() not in warning


def earlier_token(master_key: bytes, value: str) -> str:
    """A token as earlier versions wrote it: Fernet, under a key derived from the same master key."""
    fernet_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                      info=b"sijunjung-bot/nik-encryption").derive(master_key)
    return Fernet(base64.urlsafe_b64encode(fernet_key)).encrypt(value.encode()).decode()


def test_tokens_are_aes_gcm_and_those_of_earlier_versions_still_decrypt() -> None:
    key = secrets.token_urlsafe(48).encode()
    cipher = NikCipher(key)
    token = cipher.encrypt(GOOD_NIK)
    assert token.startswith("g1:") and cipher.is_current(token) and GOOD_NIK not in token
    assert cipher.decrypt(token) == GOOD_NIK and cipher.encrypt(GOOD_NIK) != token  # a fresh nonce each time
    old_token = earlier_token(key, OTHER_NIK)
    assert cipher.decrypt(old_token) == OTHER_NIK and not cipher.is_current(old_token)
    # A changed token, a cut one, or one under another key: refused, never garbage.
    body = bytearray(base64.urlsafe_b64decode(token[3:]))
    body[-1] ^= 1
    for bad in ("g1:" + base64.urlsafe_b64encode(bytes(body)).decode(), token[:20], "g1:???",
                NikCipher(secrets.token_bytes(32)).encrypt(GOOD_NIK)):
        assert not cipher.can_decrypt(bad)
        with pytest.raises(ValueError, match="cannot be decrypted"):
            cipher.decrypt(bad)


def encrypted_columns_of_the_models() -> list[tuple[str, str]]:
    """Every (table, column) of the schema whose column holds one token (named `*_enc`)."""
    return sorted((table.name, column.name) for table in SQLModel.metadata.tables.values()
                  for column in table.columns if column.name.endswith("_enc"))


def test_every_encrypted_column_of_the_schema_is_rotated() -> None:
    """A column left out of the rotation would be unreadable under the new key."""
    rotated = {(table, column) for table, _, column, kind in ENCRYPTED_COLUMNS if kind == "token"}
    assert set(encrypted_columns_of_the_models()) == rotated
    assert len(rotated) >= 6


async def all_tokens(svc: Services) -> list[str]:
    """Every encrypted value in the database."""
    tokens: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                tokens.append(v) if k.endswith("_enc") and isinstance(v, str) else walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    async with svc.db.session() as session:
        for table, column in encrypted_columns_of_the_models():
            tokens += [t for t in (await session.execute(text(f"SELECT {column} FROM {table}"))).scalars() if t]
        for state in (await session.execute(text("SELECT state FROM conversation"))).scalars():
            walk(json.loads(state))
        for details in (await session.execute(text("SELECT details FROM auditevent"))).scalars():
            walk(json.loads(details) if isinstance(details, str) else details)
    return tokens


async def test_keys_rotate_re_encrypts_everything_and_recomputes_the_lookup_hashes(
        url: str, tmp_path: Path, clock: FixedClock, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    old_key = secrets.token_urlsafe(48)
    svc = await populated(url, old_key, tmp_path, clock)
    before = await all_tokens(svc)
    assert len(before) >= 9
    await svc.db.dispose()
    new_file = tmp_path / "new.key"
    monkeypatch.setenv("BOT_SECRET_KEY", old_key)
    assert await _main_aside(["keys", "new", "--out", str(new_file)]) == 0
    assert stat.S_IMODE(new_file.stat().st_mode) == 0o600
    assert await _main_aside(["keys", "rotate", "--db", url, "--new-key-file", str(new_file)]) == 0
    assert "re-encrypted under key" in capsys.readouterr().err
    new_key = new_file.read_text().strip()
    new, old = NikCipher(new_key.encode()), NikCipher(old_key.encode())

    with pytest.raises(ConfigError, match="is not the key"):
        await build_services(None, url, clock=clock, env=env_with(old_key, tmp_path))
    rotated = await build_services(None, url, clock=clock, env=env_with(new_key, tmp_path))
    tokens = await all_tokens(rotated)
    assert len(tokens) == len(before)
    assert all(new.can_decrypt(t) and not old.can_decrypt(t) and new.is_current(t) for t in tokens)
    async with rotated.db.session() as session:
        repo = Repository(session, rotated.cipher)
        registration = await repo.registration_by_nik(GOOD_NIK)  # the lookup hash follows the key
        assert registration is not None and rotated.cipher.decrypt(registration.nik_enc) == GOOD_NIK
        state = await repo.load_state("tg:1002")
        assert state.answers["nik"] == OTHER_NIK
        inbox_row = (await session.execute(text("SELECT id FROM inbound_update"))).scalar_one()
        assert Inbox(session, rotated.cipher).payload(await session.get(InboundUpdate, inbox_row)) == {"text": OTHER_NIK}
    # The same NIK once more is still found as a duplicate, under the new key.
    duplicate = Chat(rotated, "tg:1004")
    await duplicate("halo")
    for kind, value in REGISTRATION[:REGISTRATION.index(("say", GOOD_NIK)) + 1]:
        await (duplicate.tap(value) if kind == "tap" else duplicate(value))
    assert "nik.already_other" in duplicate.keys, duplicate.keys
    # Running it again is harmless.
    assert await _main_aside(["keys", "rotate", "--db", url, "--new-key-file", str(new_file)]) == 0
    assert "already encrypted with key" in capsys.readouterr().err
    await rotated.db.dispose()


async def test_an_interrupted_rotation_blocks_start_up_and_resumes(
        tmp_path: Path, clock: FixedClock) -> None:
    url = f"sqlite:///{tmp_path / 'resume.sqlite3'}"
    old_key, new_key = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    svc = await populated(url, old_key, tmp_path, clock)
    for n in range(3):
        await register(Chat(svc, f"tg:20{n}"), nik=f"13030552038500{n + 10}")
    old, new = NikCipher(old_key.encode()), NikCipher(new_key.encode())
    partial = await rotate(svc.db.sessionmaker, old, new, clock.now(), batch_size=1, stop_after_batches=2)
    assert partial.rewritten["registration"] == 2  # two of four rows, then "a crash"
    for key in (old_key, new_key):
        with pytest.raises(ConfigError, match="key rotation .* is unfinished"):
            await build_services(None, url, clock=clock, env=env_with(key, tmp_path))
    finished = await rotate(svc.db.sessionmaker, old, new, clock.now(), batch_size=1)
    assert finished.rewritten["registration"] == 2 and not finished.already_done
    assert all(new.can_decrypt(t) for t in await all_tokens(svc))
    await svc.db.dispose()
    rotated = await build_services(None, url, clock=clock, env=env_with(new_key, tmp_path))
    async with rotated.db.session() as session:
        count = (await session.execute(text("SELECT count(*) FROM registration"))).scalar_one()
        found = [await Repository(session, rotated.cipher).registration_by_nik(f"13030552038500{n + 10}")
                 for n in range(3)]
    assert count == 4 and all(found)
    await rotated.db.dispose()
