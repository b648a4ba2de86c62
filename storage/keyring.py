"""Which key encrypts this database, and the rotation to a new one.

The database keeps the fingerprint of the master key its NIKs are encrypted under (one row of
`key_fingerprint`). Start-up compares it with the key it was given and refuses to run with any
other key, before it writes anything: a second key would make every stored NIK unreadable and
every duplicate check miss (the lookup hashes differ too).

`rotate` re-encrypts every encrypted value (registrations, conversation drafts, the inbox, held
WhatsApp messages, queued outgoing messages, help-desk tickets and their messages, audit details)
under a new key and recomputes the lookup hashes, in batches of one transaction each. It is
resumable: the row records the rotation in progress, every value
is tried with the new key first (already rotated: skipped), and running it again with the same
two keys finishes the job. Start-up refuses to run while a rotation is unfinished.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlmodel import Field, SQLModel

from storage.crypto import NikCipher
from storage.models import _utc_column

log = logging.getLogger(__name__)


class KeyFingerprint(SQLModel, table=True):
    __tablename__ = "key_fingerprint"

    id: int = Field(default=1, primary_key=True)
    fingerprint: str = Field(max_length=64)
    recorded_at: datetime = _utc_column(nullable=False)
    # Set while `keys rotate` runs: the fingerprint of the key the data is moving to.
    rotating_to: str | None = Field(default=None, max_length=64)
    rotated_at: datetime | None = _utc_column(nullable=True)


class KeyMismatch(Exception):
    """The key given is not the one this database is encrypted with (the message says what to do)."""


def _mismatch(stored: str, given: str) -> KeyMismatch:
    return KeyMismatch(
        f"BOT_SECRET_KEY is not the key this database is encrypted with (database key {stored}, "
        f"given key {given}): start with the original key (BOT_SECRET_KEY or BOT_SECRET_KEY_FILE), "
        "or move the data to a new key with `python -m bot keys rotate`; nothing was written.")


def _rotating(row: KeyFingerprint, given: str) -> KeyMismatch:
    return KeyMismatch(
        f"A key rotation from key {row.fingerprint} to key {row.rotating_to} is unfinished (given key "
        f"{given}): run `python -m bot keys rotate` again with the same two keys to finish it; nothing "
        "was written.")


async def _has_table(connection: AsyncConnection, name: str) -> bool:
    return await connection.run_sync(lambda sync: inspect(sync).has_table(name))


async def stored_fingerprint(session: AsyncSession) -> KeyFingerprint | None:
    connection = await session.connection()
    if not await _has_table(connection, "key_fingerprint"):
        return None
    return await session.get(KeyFingerprint, 1)


async def verify_key(session: AsyncSession, cipher: NikCipher) -> None:
    """Raise KeyMismatch unless `cipher` is this database's key. Reads only (safe before migrating).

    A database from before fingerprints (or a fresh one) has no row: then one stored NIK, if any,
    must decrypt with the key."""
    row = await stored_fingerprint(session)
    if row is not None:
        if row.rotating_to is not None:
            raise _rotating(row, cipher.fingerprint)
        if row.fingerprint != cipher.fingerprint:
            raise _mismatch(row.fingerprint, cipher.fingerprint)
        return
    connection = await session.connection()
    if await _has_table(connection, "registration"):
        sample = (await session.execute(text("SELECT nik_enc FROM registration LIMIT 1"))).scalar_one_or_none()
        if sample is not None and not cipher.can_decrypt(sample):
            raise _mismatch("(not recorded; its NIKs do not decrypt with this key)", cipher.fingerprint)


async def record_key(session: AsyncSession, cipher: NikCipher, now: datetime) -> bool:
    """Store the fingerprint of the key if none is stored (after migrating). Caller commits."""
    if await session.get(KeyFingerprint, 1) is not None:
        return False
    session.add(KeyFingerprint(id=1, fingerprint=cipher.fingerprint, recorded_at=now))
    await session.flush()
    return True


# -- rotation -------------------------------------------------------------------------------------

def _walk_enc(value: Any, recrypt: Callable[[str], str | None]) -> bool:
    """Re-encrypt, in place, every string under a key ending in `_enc` in a JSON structure."""
    changed = False
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_enc") and isinstance(item, str):
                new = recrypt(item)
                if new is not None:
                    value[key] = new
                    changed = True
            else:
                changed = _walk_enc(item, recrypt) or changed
    elif isinstance(value, list):
        for item in value:
            changed = _walk_enc(item, recrypt) or changed
    return changed


@dataclass
class RotationReport:
    fingerprint_from: str
    fingerprint_to: str
    # table -> rows re-encrypted in this run (rows already under the new key are not counted)
    rewritten: dict[str, int] = field(default_factory=dict)
    already_done: bool = False


# (table, primary key, column, kind): "token" = one token of storage/crypto.py; "json_text" /
# "json" = JSON text or a JSON column holding `*_enc` tokens. Every column named `*_enc` must be
# here (a test checks the models against this list): one left out is unreadable after a rotation.
ENCRYPTED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("registration", "id", "nik_enc", "token"),
    ("conversation", "channel_user", "state", "json_text"),
    ("inbound_update", "id", "payload_enc", "token"),
    ("whatsapp_outbound", "id", "body_enc", "token"),
    ("outbox", "id", "body_enc", "token"),
    ("ticket", "id", "question_enc", "token"),
    ("ticket_message", "id", "body_enc", "token"),
    ("auditevent", "id", "details", "json"),
    ("claim_case", "id", "place_enc", "token"),
    ("claim_case", "id", "story_enc", "token"),
    ("claim_case", "id", "notifier_name_enc", "token"),
    ("claim_case", "id", "notifier_phone_enc", "token"),
)


class RotationRefused(Exception):
    pass


async def rotate(sessionmaker: Any, old: NikCipher, new: NikCipher, now: datetime,
                 batch_size: int = 200, stop_after_batches: int | None = None) -> RotationReport:
    """Move every encrypted value from `old` to `new` (see the module's docstring).

    `stop_after_batches` stops early (as a crash would) and exists for the resumption test."""
    if old.fingerprint == new.fingerprint:
        raise RotationRefused("the new key is the same as the current one")
    report = RotationReport(old.fingerprint, new.fingerprint)
    async with sessionmaker() as session:
        row = await stored_fingerprint(session)
        if row is None:
            await verify_key(session, old)
            row = KeyFingerprint(id=1, fingerprint=old.fingerprint, recorded_at=now)
            session.add(row)
        elif row.fingerprint == new.fingerprint and row.rotating_to is None:
            report.already_done = True
            return report
        elif row.fingerprint != old.fingerprint:
            raise RotationRefused(
                f"the current key (BOT_SECRET_KEY, key {old.fingerprint}) is not this database's key "
                f"{row.fingerprint}")
        elif row.rotating_to not in (None, new.fingerprint):
            raise RotationRefused(
                f"an unfinished rotation to another key ({row.rotating_to}) must be finished first, with that key")
        row.rotating_to = new.fingerprint
        await session.commit()

    def recrypt(token: str) -> str | None:
        if new.can_decrypt(token):
            # Under the new key already; a token of an earlier form is rewritten in the current one.
            return None if new.is_current(token) else new.encrypt(new.decrypt(token))
        return new.encrypt(old.decrypt(token))  # raises ValueError for a token under neither key

    batches = 0
    for table, key, column, kind in ENCRYPTED_COLUMNS:
        count = 0
        last: Any = None
        while True:
            async with sessionmaker() as session:
                connection = await session.connection()
                if not await _has_table(connection, table):
                    break
                where = f"WHERE {key} > :last" if last is not None else ""
                params: dict[str, Any] = {"n": batch_size} | ({"last": last} if last is not None else {})
                rows = (await session.execute(
                    text(f"SELECT {key}, {column} FROM {table} {where} ORDER BY {key} LIMIT :n"), params)).all()
                if not rows:
                    break
                for pk, value in rows:
                    last = pk
                    values = _rotated(kind, value, recrypt, new, table, column)
                    if values:
                        sets = ", ".join(f"{name} = :{name}" for name in values)
                        await session.execute(text(f"UPDATE {table} SET {sets} WHERE {key} = :pk"),
                                              {**values, "pk": pk})
                        count += 1
                await session.commit()
            batches += 1
            if stop_after_batches is not None and batches >= stop_after_batches:
                report.rewritten[table] = count
                return report
        report.rewritten[table] = count
        log.info("key rotation: %s: %d rows re-encrypted", table, count)

    async with sessionmaker() as session:
        row = await session.get(KeyFingerprint, 1)
        row.fingerprint, row.rotating_to, row.rotated_at = new.fingerprint, None, now
        await session.commit()
    return report


def _rotated(kind: str, value: Any, recrypt: Callable[[str], str | None], new: NikCipher,
             table: str, column: str) -> dict[str, Any]:
    if value is None:
        return {}
    if kind == "token":
        token = recrypt(value)
        if token is None:
            return {}
        values: dict[str, Any] = {column: token}
        if table == "registration":
            values["nik_hash"] = new.lookup_hash(new.decrypt(token))
        return values
    data = json.loads(value) if isinstance(value, str) else value
    if not _walk_enc(data, recrypt):
        return {}
    return {column: json.dumps(data, ensure_ascii=False, separators=(",", ":"))}
