"""Storage on SQLite and PostgreSQL (the `any_svc` fixture runs each test on both): the same code
must behave the same on both databases.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from bot.app import seed_reference_data
from conversations.state import State
from handlers.services import Services
from storage.db import Database, normalize_url
from storage.models import Conversation, Nagari, Registration
from storage.repo import REFERENCE_ALPHABET, Repository, new_reference
from tests.conftest import GOOD_NIK, Chat, register

ANSWERS = {
    "nik": GOOD_NIK, "name": "Siti Rahmah", "sex": "P", "birth_date": "1985-03-12", "birth_date_nik": "1985-03-12",
    "nagari_code": "13.03.04.2001", "jorong": "Koto Tuo", "phone": "+6281234567890", "category": "petani",
    "income": 1_000_000, "income_base": 1_000_000, "monthly_contribution": 16_800, "heir_name": None,
    "flags": ["nik_outside_regency"],
}
NOW = datetime(2026, 11, 28, 3, 0, tzinfo=timezone.utc)


async def test_nagari_reference_is_seeded_with_62_villages(any_svc: Services) -> None:
    async with any_svc.db.session() as session:
        rows = (await session.execute(select(Nagari))).scalars().all()
    assert len(rows) == 62
    assert len({r.kecamatan_code for r in rows}) == 8
    assert all(r.code.startswith("13.03.") for r in rows)
    muaro = next(r for r in rows if r.code == "13.03.04.2001")
    assert (muaro.name, muaro.kecamatan) == ("Muaro", "Sijunjung")


async def test_migrations_and_seeding_apply_twice(any_svc: Services) -> None:
    await any_svc.db.upgrade()
    await any_svc.db.upgrade()
    await seed_reference_data(any_svc.db, any_svc.cipher, any_svc.wilayah)
    async with any_svc.db.session() as session:
        assert await Repository(session, any_svc.cipher).ensure_nagari([]) == 0
        assert (await session.execute(select(func.count()).select_from(Nagari))).scalar_one() == 62
        heads = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    assert "0001" not in heads and heads  # every branch is at its head, 0001 is an ancestor


async def test_create_find_and_refuse_a_duplicate(any_svc: Services) -> None:
    async with any_svc.db.session() as session:
        repo = Repository(session, any_svc.cipher)
        created = await repo.create_registration(ANSWERS, "tg:1", "id", None, NOW)
        await session.commit()
    assert created.reference.startswith("SJ-") and set(created.reference[3:]) <= set(REFERENCE_ALPHABET)
    async with any_svc.db.session() as session:
        repo = Repository(session, any_svc.cipher)
        found = await repo.registration_by_nik(GOOD_NIK)
        assert found is not None and found.reference == created.reference
        assert await repo.registration(created.reference.lower()) is not None
        assert await repo.registration_by_nik("1303050102900002") is None
        assert repo.answers_of(found)["nik"] == GOOD_NIK
        assert found.created_at == NOW and found.flags == ["nik_outside_regency"]
        assert GOOD_NIK not in found.nik_enc and found.nik_hash != GOOD_NIK
        with pytest.raises(IntegrityError):
            await repo.create_registration(ANSWERS, "tg:2", "id", None, NOW)
        await session.rollback()
        statuses = await session.execute(select(Registration.status, func.count()).group_by(Registration.status))
        assert dict(statuses.all()) == {"pending": 1}


async def test_concurrent_submissions_of_one_nik_store_exactly_one(any_svc: Services) -> None:
    one, two = Chat(any_svc, "tg:1"), Chat(any_svc, "wa:6281311112222")
    await register(one, submit=False)
    await register(two, submit=False)
    await asyncio.gather(one.tap("sum:send"), two.tap("sum:send"))
    outcomes = sorted([one.keys[0], two.keys[0]])
    assert outcomes == ["submit.done", "submit.duplicate"], (one.keys, two.keys)
    async with any_svc.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Registration))).scalar_one() == 1


async def test_state_round_trip_with_the_nik_encrypted(any_svc: Services) -> None:
    state = State(lang="en", step="summary", answers={**ANSWERS, "flags": ["birth_date_mismatch"]},
                  history=["consent", "nik"], backup={"nik": "1303050102900002", "flags": []},
                  pending={"field": "nik", "values": {"nik": "1371055203850001", "sex": "P"}},
                  reference="SJ-ABCDEF", last_seen=NOW.isoformat())
    async with any_svc.db.session() as session:
        await Repository(session, any_svc.cipher).save_state("tg:9", state, NOW)
        await session.commit()
    async with any_svc.db.session() as session:
        raw = (await session.get(Conversation, "tg:9"))
        assert raw is not None and raw.step == "summary" and raw.updated_at == NOW
        for nik in (GOOD_NIK, "1303050102900002", "1371055203850001"):
            assert nik not in raw.state
        stored = json.loads(raw.state)
        assert "nik" not in stored["answers"] and stored["answers"]["nik_enc"]
        loaded = await Repository(session, any_svc.cipher).load_state("tg:9")
    assert loaded == state
    # Saving again updates the one row.
    loaded.step = "done"
    async with any_svc.db.session() as session:
        await Repository(session, any_svc.cipher).save_state("tg:9", loaded, NOW)
        await session.commit()
        assert (await session.execute(select(func.count()).select_from(Conversation))).scalar_one() == 1


def plain_forms(url: str) -> list[str]:
    """The plain and async spellings of the same database URL."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    driver = "aiosqlite" if backend == "sqlite" else "asyncpg"
    rendered = [parsed.set(drivername=name).render_as_string(hide_password=False)
                for name in (backend, f"{backend}+{driver}")]
    return rendered


async def test_urls_in_plain_and_async_forms_reach_the_same_database(any_svc: Services) -> None:
    for url in plain_forms(any_svc.db.url):
        database = Database(url)
        try:
            assert database.url == any_svc.db.url
            async with database.session() as session:
                assert (await session.execute(select(func.count()).select_from(Nagari))).scalar_one() == 62
        finally:
            await database.dispose()


@pytest.mark.parametrize("url, expected", [
    ("sqlite:///var/bot.sqlite3", "sqlite+aiosqlite:///var/bot.sqlite3"),
    ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
    ("postgresql://u:p%40ss@db:5432/bot", "postgresql+asyncpg://u:p%40ss@db:5432/bot"),
    ("postgresql+asyncpg://u@db/bot", "postgresql+asyncpg://u@db/bot"),
    ("postgres://u@db/bot", "postgresql+asyncpg://u@db/bot"),
])
def test_url_normalisation(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_other_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database"):
        normalize_url("mysql://u@db/bot")


def test_references_avoid_look_alike_characters() -> None:
    references = {new_reference() for _ in range(500)}
    assert len(references) > 490
    assert not set("".join(r[3:] for r in references)) & set("01OIL")


async def test_audit_refuses_a_nik_in_clear(any_svc: Services) -> None:
    async with any_svc.db.session() as session:
        with pytest.raises(ValueError):
            await Repository(session, any_svc.cipher).audit("tg:1", "x", NOW, None, nik=GOOD_NIK)


async def test_sqlite_waits_for_another_process_lock_without_blocking_the_event_loop(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite statements run on the event loop's thread (storage/inline_sqlite.py): a write that
    finds the database locked by another process waits in the event loop, which keeps serving
    others meanwhile, and goes through once the lock is released; one that waits longer than its
    patience fails with SQLite's own "database is locked"."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    path = tmp_path / "busy.sqlite3"
    database = Database(f"sqlite:///{path}")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")
        ticks, writing = 0, False

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += writing

        async def release_later() -> None:
            await asyncio.sleep(0.3)
            other.execute("COMMIT")

        ticker, releaser = asyncio.create_task(tick()), asyncio.create_task(release_later())
        async with database.engine.begin() as connection:
            writing = True
            await connection.execute(text("INSERT INTO t VALUES (1)"))
            writing = False
        await releaser
        ticker.cancel()
        assert ticks > 0, "the event loop ran while the write waited"
        other.execute("BEGIN IMMEDIATE")
        try:
            async with database.engine.connect() as connection:
                raw = await connection.get_raw_connection()
                raw.driver_connection.busy_seconds = 0.1  # type: ignore[union-attr]
                with pytest.raises(OperationalError, match="database is locked"):
                    await connection.execute(text("INSERT INTO t VALUES (2)"))
        finally:
            other.execute("ROLLBACK")
            other.close()
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await database.dispose()


async def test_sqlite_checkpoints_on_a_worker_thread_and_the_log_stays_small(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The turn's connections never checkpoint inside a commit (on the event loop's thread):
    a worker thread does, every CHECKPOINT_EVERY commits, and the write-ahead log stays about
    that many commits long however many are written."""
    import threading

    from storage import inline_sqlite

    path = tmp_path / "wal.sqlite3"
    database = Database(f"sqlite:///{path}")
    threads: list[str] = []
    checkpoint = inline_sqlite.Checkpoints.checkpoint

    def watched(self: inline_sqlite.Checkpoints) -> None:
        threads.append(threading.current_thread().name)
        checkpoint(self)

    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (x INTEGER, filler TEXT)"))
        inline_sqlite.Checkpoints.checkpoint = watched  # type: ignore[method-assign]
        commits = inline_sqlite.CHECKPOINT_EVERY * 12
        sizes = []
        for n in range(commits):
            async with database.engine.begin() as connection:
                await connection.execute(text("INSERT INTO t VALUES (:x, :f)"), {"x": n, "f": "x" * 3000})
            if n % inline_sqlite.CHECKPOINT_EVERY == inline_sqlite.CHECKPOINT_EVERY - 1:
                await asyncio.sleep(0.05)  # the worker's checkpoint has its moment
                sizes.append(path.with_name(path.name + "-wal").stat().st_size)
        assert threads and threading.main_thread().name not in threads, threads
        # A commit here writes two pages (4 KiB each) and a frame header: an unbounded log would
        # be some 10 MB by the end; one restarted after each checkpoint stays under ~1.3 MB.
        assert max(sizes) < 2 * inline_sqlite.CHECKPOINT_EVERY * 2 * 4200, sizes
        async with database.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == commits
    finally:
        inline_sqlite.Checkpoints.checkpoint = checkpoint  # type: ignore[method-assign]
        await database.dispose()
