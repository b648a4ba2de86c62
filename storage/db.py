"""Database engine and sessions: SQLite (embedded default, WAL) or PostgreSQL, same code.

URLs are accepted in plain and async forms (sqlite:///path, sqlite+aiosqlite:///path,
postgresql://..., postgres://..., postgresql+asyncpg://...) and normalised to the async drivers.

Migrations run under a lock, so any number of processes may start at once: on PostgreSQL a
transaction-level advisory lock, on SQLite the file's write lock (BEGIN IMMEDIATE). Start-up as a
whole (key check, migrations, reference data) is serialised by `startup_lock` (a session-level
advisory lock, or a lock file beside the SQLite database). On SQLite a consistent copy of the
database (the online backup API, WAL included) is taken before a migration changes its schema.
The SQLite file, its folder and its backups are private to the user running the bot (0600/0700).

A running service (`run`, `worker`) says so for as long as it runs (`in_service`): a shared lock
on `<database>.running` beside a SQLite file, or a shared advisory lock on PostgreSQL, where every
connection also carries the program's name (`application_name`, seen in pg_stat_activity). What
must not happen under a running bot -- `keys rotate`, `db restore` -- takes the exclusive side
(`exclusive`) and refuses, naming what it found, while any of them is there.
"""

from __future__ import annotations

import ast
import asyncio
import functools
import logging
import os
import shutil
import socket
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage import hot
from storage.crypto import private_dir, private_file
from storage.inline_sqlite import InlineConnection, connector
from storage.long_reads import LongReads, Result, Work, read_only_sqlite

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Advisory lock keys (any two fixed 64-bit numbers unique to this program).
MIGRATION_LOCK = 0x53_4A_4D_49_47  # "SJMIG"
STARTUP_LOCK = 0x53_4A_53_54_41  # "SJSTA"
# Held shared by every running service for its lifetime, taken exclusive by `exclusive`.
SERVICE_LOCK = 0x53_4A_52_55_4E  # "SJRUN"
# The start of every connection's application_name on PostgreSQL (pg_stat_activity).
APPLICATION = "sijunjung-bot"
# How long an SQLite statement waits for another process's write lock before it fails.
BUSY_SECONDS = 10.0
# PostgreSQL connections per process (storage/db.Database): several processes together must stay
# under the server's max_connections (100 by default), with room for the lock backend's own.
POOL_SIZE = 20
# PostgreSQL connections per process for long reads (storage/long_reads.py), beside the pool.
LONG_READ_CONNECTIONS = 2


class DatabaseUnavailable(Exception):
    """The database cannot be reached or used; the message is one line, without a password."""


class BackupFailed(Exception):
    pass


class InUse(Exception):
    """Another process of the bot is using the database (the message says which, and what to do)."""


def application_name() -> str:
    """This process's name on PostgreSQL connections: the program, its pid and host (at most the
    63 characters PostgreSQL keeps), so a DBA sees which process holds a connection and
    `exclusive` can tell this process's connections from another's."""
    return f"{APPLICATION} pid {os.getpid()} on {socket.gethostname()}"[:63]


def describe_database(url: str) -> str:
    """The database a command acts on, as a deployer reads it: the scheme, host, port, user and
    database name, or the SQLite file -- never a password (nor the query string, which may hold
    one)."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as a placeholder
        return "(unparsable database URL)"
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return f"sqlite file {parsed.database or ':memory:'}"
    bare = URL.create(backend, username=parsed.username, host=parsed.host, port=parsed.port, database=parsed.database)
    return bare.render_as_string(hide_password=True)


def safe_url(url: str) -> str:
    """The URL as it may be shown and logged: password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown as a placeholder
        return "(unparsable database URL)"


def describe_failure(exc: BaseException) -> str:
    """One line for an error of connecting to or using a database (no traceback, no parameters)."""
    original = getattr(exc, "orig", None) or exc
    message = str(original).strip()
    first = message.splitlines()[0] if message else type(original).__name__
    return f"{type(original).__name__}: {first}" if isinstance(original, OSError) else first


def normalize_url(url: str) -> str:
    """The async-driver form of a database URL; raises ValueError for other databases."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; busy_timeout makes a second writer wait
    # instead of failing at once with "database is locked" (a connection on the event loop's
    # thread waits in the event loop instead: storage/inline_sqlite.py).
    inline = isinstance(getattr(dbapi_connection, "driver_connection", None), InlineConnection)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={0 if inline else int(BUSY_SECONDS * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if inline:
        # Checkpoints on a worker thread, not inside a commit on the event loop's thread
        # (storage/inline_sqlite.Checkpoints).
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class Database:
    def __init__(self, url: str, **engine_args: Any) -> None:
        self.url = normalize_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.path: Path | None = None
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                self.path = Path(database)
                try:
                    # SQLite creates the -wal and -shm files with the database file's permissions.
                    private_file(self.path)
                except OSError as problem:
                    raise DatabaseUnavailable(f"cannot create the SQLite database {self.path}: {problem}") from None
                if not make_url(self.url).query:
                    # Statements on the event loop's thread, not aiosqlite's (storage/inline_sqlite.py).
                    engine_args.setdefault("async_creator", connector(str(self.path), BUSY_SECONDS))
                    # The connection used last goes out first: its page cache is still valid
                    # (another connection's commit makes SQLite drop it), which made the turn's
                    # statements about a fifth cheaper than taking the pool's connections in turn.
                    engine_args.setdefault("pool_use_lifo", True)
        else:
            # A fixed pool, no overflow: under load every turn in flight wants a connection at
            # once, and overflow connections were opened and closed again all the time (one
            # new connection, and a new PostgreSQL backend, per ten messages: a fifth of the
            # CPU). Beyond POOL_SIZE, work waits for a connection, which costs nothing while the
            # cores are busy anyway. Nothing holds one connection while it waits for another.
            engine_args.setdefault("pool_size", POOL_SIZE)
            engine_args.setdefault("max_overflow", 0)
            # Every connection names this process (pg_stat_activity; `exclusive` reads it).
            connect_args = dict(engine_args.pop("connect_args", None) or {})
            connect_args.setdefault("server_settings", {}).setdefault("application_name", application_name())
            engine_args["connect_args"] = connect_args
        # hide_parameters: statement parameters (names, phones) never reach error messages or logs.
        self.engine: AsyncEngine = create_async_engine(self.url, hide_parameters=True, **engine_args)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        # Statistics and exports over a province: a thread and connections of their own.
        self.long_reads = LongReads(self.long_read_engine) if not self.is_sqlite or self.path is not None else None

    def long_read_engine(self) -> AsyncEngine:
        """The engine of the long reads' thread (made on that thread): read-only connections."""
        if self.is_sqlite:
            assert self.path is not None
            engine = create_async_engine(self.url, hide_parameters=True, pool_size=2, max_overflow=0,
                                         async_creator=connector(str(self.path), BUSY_SECONDS))
            event.listen(engine.sync_engine, "connect", read_only_sqlite)
            return engine
        # Read-only; and one core per query: PostgreSQL's parallel workers would give a scan
        # every core of a small server, and the webhooks' statements would wait for one.
        settings = {"application_name": application_name(), "default_transaction_read_only": "on",
                    "max_parallel_workers_per_gather": "0"}
        return create_async_engine(self.url, hide_parameters=True, pool_size=LONG_READ_CONNECTIONS, max_overflow=0,
                                   connect_args={"server_settings": settings})

    async def long_read(self, work: Work[Result]) -> Result:
        """`work(session)` for a read that may scan a province (statistics, exports), on the long
        reads' thread with a session of its own (storage/long_reads.py): the event loop stays free."""
        if self.long_reads is None:
            async with self.session() as session:
                return await work(session)
        return await self.long_reads.run(work)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    async def read(self, statement: hot.Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """One read on a connection of its own, outside any session and transaction: the
        reads every update makes (storage/hot.py)."""
        return await hot.read(self.engine, statement, values)

    async def upgrade(self) -> str | None:
        """Apply every Alembic migration (all heads), under the migration lock. On SQLite a
        backup is taken first when a migration is pending; returns its path, if any."""
        if await self.is_migrated():
            # The usual start: nothing to do, and alembic (about 10 MB) is never imported.
            return None
        backup = None
        if self.is_sqlite:
            pending = await self.pending_migrations()
            if pending and self.path is not None and await self.current_revisions():
                backup = self.path.with_name(f"{self.path.name}.before-{pending[-1]}")
                backup = await asyncio.to_thread(_sqlite_backup, self.path, _unused(backup))
                log.warning("database backup before migrating to %s: %s", pending[-1], backup)
            async with self.engine.connect() as connection:
                # The write lock for the whole migration: a second process waits (busy_timeout),
                # then finds the schema up to date.
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
                await connection.run_sync(_run_alembic_upgrade)
                await connection.commit()
        else:
            async with self.engine.begin() as connection:
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
                await connection.run_sync(_run_alembic_upgrade)
        return str(backup) if backup else None

    @asynccontextmanager
    async def startup_lock(self) -> AsyncIterator[None]:
        """One process at a time through start-up (key check, migrations, reference data)."""
        if not self.is_sqlite:
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": STARTUP_LOCK})
                await connection.commit()
                try:
                    yield
                finally:
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": STARTUP_LOCK})
                    await connection.commit()
            return
        if self.path is None:
            yield
            return
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
        private_file(lock_path)
        handle = open(lock_path, "rb")  # noqa: SIM115 - closed below
        try:
            await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    @property
    def running_path(self) -> Path | None:
        """The lock file a running service holds beside a SQLite database."""
        return self.path.with_name(self.path.name + ".running") if self.path is not None else None

    @asynccontextmanager
    async def in_service(self) -> AsyncIterator[None]:
        """Held by a running service (`run`, `worker`) for its whole life: `exclusive` (keys
        rotate, db restore) refuses while any process holds it. SQLite: a shared lock on
        `<database>.running`; PostgreSQL: a shared advisory lock on a connection of its own (one
        more connection per process, beside the pool). Waits while a rotation or a restore holds
        the exclusive side."""
        if self.is_sqlite:
            if self.running_path is None:
                yield
                return
            import fcntl

            private_file(self.running_path)
            handle = open(self.running_path, "rb")  # noqa: SIM115 - closed below
            try:
                await asyncio.to_thread(fcntl.flock, handle.fileno(), fcntl.LOCK_SH)
                yield
            finally:
                handle.close()  # closing the file releases the lock
            return
        from sqlalchemy.pool import NullPool

        presence = create_async_engine(self.url, poolclass=NullPool, hide_parameters=True,
                                       connect_args={"server_settings": {"application_name": application_name()}})
        try:
            async with presence.connect() as connection:
                await connection.execute(text("SELECT pg_advisory_lock_shared(:key)"), {"key": SERVICE_LOCK})
                await connection.commit()
                yield
        finally:
            await presence.dispose()

    @asynccontextmanager
    async def exclusive(self, force: bool = False) -> AsyncIterator[None]:
        """No running service while this is held (`keys rotate`, `db restore`): raises InUse,
        naming what was found, when a service holds `in_service` (or, on PostgreSQL, another
        process of the bot has a connection open). `force` skips the check (and takes no lock)."""
        if force:
            yield
            return
        if self.is_sqlite:
            if self.running_path is None:
                yield
                return
            import fcntl

            private_file(self.running_path)
            handle = open(self.running_path, "rb")  # noqa: SIM115 - closed below
            try:
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise InUse(f"the bot is running on this database (a process holds {self.running_path}): "
                                "stop the service and its workers first, or add --force") from None
                yield
            finally:
                handle.close()
            return
        async with self.engine.connect() as connection:
            others = (await connection.execute(text(
                "SELECT application_name FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND application_name LIKE :ours AND application_name <> :me "
                "ORDER BY backend_start"), {"ours": f"{APPLICATION}%", "me": application_name()})).scalars().all()
            taken = (await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": SERVICE_LOCK})).scalar()
            await connection.commit()
            if others or not taken:
                if taken:
                    await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SERVICE_LOCK})
                    await connection.commit()
                names = "; ".join(dict.fromkeys(others)) or "a service holding the bot's lock"
                raise InUse(f"another process of the bot is connected to this database ({names}): stop the "
                            "service and its workers first, or add --force")
            try:
                yield
            finally:
                await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": SERVICE_LOCK})
                await connection.commit()

    async def current_revisions(self) -> list[str]:
        """The revisions this database is at (empty: never migrated): alembic's own table, read
        with a query (alembic itself is imported only to migrate)."""
        async with self.engine.connect() as connection:
            if not await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
                return []
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return sorted(str(row[0]) for row in rows)

    async def pending_migrations(self) -> list[str]:
        """Revisions not yet applied, oldest first."""
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(alembic_config())
        current = await self.current_revisions()
        applied: set[str] = set()
        for revision in current:
            applied.update(r.revision for r in script.iterate_revisions(revision, "base"))
        every = [r.revision for r in script.walk_revisions("base", "heads")]
        return [r for r in reversed(every) if r not in applied]

    async def is_migrated(self) -> bool:
        """At every head of the migrations (script_heads): asked at each start and by /readyz, so
        it reads no migration script and loads no alembic."""
        return set(await self.current_revisions()) == set(script_heads())

    async def backup(self, out: Path) -> Path:
        """A consistent copy: SQLite's online backup API, or pg_dump (custom format) on PostgreSQL."""
        private_dir(out.parent)
        if self.is_sqlite:
            if self.path is None:
                raise BackupFailed("an in-memory database cannot be backed up")
            return await asyncio.to_thread(_sqlite_backup, self.path, out)
        return await asyncio.to_thread(_pg_dump, self.url, out)

    async def restore(self, source: Path) -> None:
        """Replace this database's contents by a backup made with `backup` (the bot must be stopped)."""
        if not source.is_file():
            raise BackupFailed(f"no backup file at {source}")
        if self.is_sqlite:
            if self.path is None:
                raise BackupFailed("an in-memory database cannot be restored")
            await self.dispose()
            await asyncio.to_thread(_sqlite_backup, source, self.path)
            return
        await asyncio.to_thread(_pg_restore, self.url, source)

    def unit(self) -> AbstractAsyncContextManager[hot.Unit]:
        """A unit of work (storage/hot.Unit) on a connection of this database's pool."""
        return hot.Unit.open(self.engine, self.sessionmaker)

    async def dispose(self) -> None:
        if self.long_reads is not None:
            await self.long_reads.dispose()
        await self.engine.dispose()


@functools.cache
def script_heads() -> tuple[str, ...]:
    """The head revisions of the migrations, read from the scripts' `revision` and
    `down_revision` assignments without importing them or alembic (a test checks the result
    against alembic's own ScriptDirectory)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            target = node.target if isinstance(node, ast.AnnAssign) else (
                node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None)
            if not isinstance(target, ast.Name) or node.value is None:
                continue
            if target.id == "revision":
                revisions.add(str(ast.literal_eval(node.value)))
            elif target.id == "down_revision":
                value = ast.literal_eval(node.value)
                parents.update([value] if isinstance(value, str) else list(value or ()))
    return tuple(sorted(revisions - parents))


def alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def _run_alembic_upgrade(connection: Any) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "heads")


def upgrade_sync(url: str) -> str | None:
    """Migrate outside any running event loop; returns the path of a backup taken first, if any."""

    async def run() -> str | None:
        database = Database(url)
        try:
            return await database.upgrade()
        finally:
            await database.dispose()

    return asyncio.run(run())


def _unused(path: Path) -> Path:
    """`path`, or `path.2`, `path.3`, ... if it exists (an earlier backup is never overwritten)."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}.{n}")
    return candidate


def _sqlite_backup(source: Path, target: Path) -> Path:
    """Copy with SQLite's online backup API: consistent while the bot runs, WAL included."""
    if not source.exists():
        raise BackupFailed(f"no SQLite database at {source}")
    private_file(target)
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            # A backup is one self-contained file (the bot turns WAL on again when it opens it).
            dst.execute("PRAGMA journal_mode=DELETE")
        finally:
            dst.close()
    finally:
        src.close()
    target.chmod(0o600)
    return target


def prune_backups(kept: Path, keep: int) -> list[Path]:
    """`db backup --keep N`: beside the backup just written (`kept`), delete all but the newest
    `keep` files named like it (`bot-*` with its suffix), newest by modification time. Returns
    what was deleted. Only the bot's own backup names are touched: other files in the folder
    stay."""
    if keep < 1:
        raise BackupFailed("--keep must be at least 1")
    prefix = kept.name.split("-", 1)[0] + "-" if "-" in kept.name else kept.stem
    siblings = [p for p in kept.parent.glob(f"{prefix}*{kept.suffix}") if p.is_file() and not p.is_symlink()]
    newest_first = sorted(siblings, key=lambda p: (p == kept, p.stat().st_mtime, p.name), reverse=True)
    removed = newest_first[keep:]
    for path in removed:
        path.unlink()
    return removed


def _libpq_args(url: str) -> tuple[list[str], dict[str, str]]:
    parsed = make_url(url)
    args = []
    if parsed.host:
        args += ["--host", parsed.host]
    if parsed.port:
        args += ["--port", str(parsed.port)]
    if parsed.username:
        args += ["--username", parsed.username]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)  # never on the command line (ps shows it)
    return args + ["--dbname", str(parsed.database or "")], env


def pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupFailed(
            f"{name} is not on the PATH: install the PostgreSQL client tools of the server's major version "
            f"(Debian/Ubuntu: apt-get install postgresql-client), or back up on the database server")
    return path


def _pg_dump(url: str, out: Path) -> Path:
    tool = pg_tool("pg_dump")
    args, env = _libpq_args(url)
    private_file(out)
    result = subprocess.run([tool, "--format=custom", "--no-owner", "--file", str(out), *args],
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupFailed(f"pg_dump failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")
    out.chmod(0o600)
    return out


def _pg_restore(url: str, source: Path) -> None:
    tool = pg_tool("pg_restore")
    args, env = _libpq_args(url)
    result = subprocess.run([tool, "--clean", "--if-exists", "--no-owner", "--single-transaction", *args,
                             str(source)], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BackupFailed(f"pg_restore failed: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else result.returncode}")
