"""Builds the Services every entry point uses: configuration, keys, database, reference data."""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from pathlib import Path
from typing import TextIO

from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from bot.config import PROJECT_ROOT, AppConfig, ConfigError, Environment, load_config
from conversations.i18n import Catalog
from conversations.wilayah import Wilayah
from handlers.clock import Clock, SystemClock
from handlers.locks import build_locks
from handlers.services import Services
from storage.crypto import NikCipher, load_master_key, new_master_key, use_for_logs, write_key_file
from storage.db import Database, DatabaseUnavailable, describe_database, describe_failure, safe_url
from storage.keyring import KeyMismatch, record_key, verify_key
from storage.models import Nagari
from storage.repo import Repository

from bot.version import version

log = logging.getLogger(__name__)
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'bot.sqlite3'}"
# Where `build_services` says which database and key a command acts on, once both are checked
# (bot/cli.py sets it to stderr for the commands a deployer runs; None: say nothing).
ANNOUNCE: ContextVar[TextIO | None] = ContextVar("announce", default=None)


def data_line(url: str, fingerprint: str | None) -> str:
    """`using database sqlite file /opt/.../bot.sqlite3; key 3f1c...`: no password, no key."""
    return f"using database {describe_database(url)}; key {fingerprint or '(none recorded yet)'}"


def announce(url: str, fingerprint: str | None) -> None:
    """Say, before a command acts, the database and the key it acts with (see ANNOUNCE)."""
    stream = ANNOUNCE.get()
    if stream is not None:
        print(data_line(url, fingerprint), file=stream, flush=True)


def database_url(explicit: str | None, env: Environment) -> str:
    return explicit or env.database_url or DEFAULT_DATABASE_URL


def load_wilayah(config: AppConfig) -> Wilayah:
    crosswalk = config.resolve(config.data.crosswalk_csv) if config.data.crosswalk_csv else None
    return Wilayah.load(config.resolve(config.data.wilayah_csv), crosswalk)


def open_database(url: str) -> Database:
    """The Database for a URL, or ConfigError naming the setting (one line)."""
    try:
        return Database(url)
    except (ValueError, ArgumentError) as problem:
        raise ConfigError(f"Invalid database URL (DATABASE_URL or --db): {problem}") from None
    except DatabaseUnavailable as problem:
        raise ConfigError(f"Database unavailable (DATABASE_URL or --db): {problem}") from None


def database_error(url: str, problem: BaseException) -> ConfigError:
    return ConfigError(f"Cannot use the database {safe_url(url)} (DATABASE_URL or --db): {describe_failure(problem)}")


def master_key(env: Environment, create: bool = True) -> bytes:
    """The master key (ConfigError naming the setting); `create`: generate the key file if absent."""
    if not create and not env.secret_key and not env.secret_key_file.exists():
        raise ConfigError(f"No key configured: BOT_SECRET_KEY is not set and BOT_SECRET_KEY_FILE "
                          f"({env.secret_key_file}) does not exist")
    try:
        return load_master_key(env.secret_key, env.secret_key_file)
    except OSError as problem:
        raise ConfigError(f"Cannot read or create the key file (BOT_SECRET_KEY_FILE): {problem}") from None
    except ValueError as problem:
        raise ConfigError(f"Invalid key (BOT_SECRET_KEY or BOT_SECRET_KEY_FILE): {problem}") from None


async def build_services(
    config_path: str | Path | None = None,
    db_url: str | None = None,
    clock: Clock | None = None,
    env: Environment | None = None,
    migrate: bool = True,
) -> Services:
    """Configuration, key, database: everything is checked before anything is written. A key
    other than the database's stops here (ConfigError), as does an unreachable database."""
    env = env or Environment.from_env()
    config = load_config(config_path)
    rules = config.flow_rules()
    wilayah = load_wilayah(config)
    # No key anywhere: a new one, kept in the key file only once the database has accepted it,
    # so a refused start (a database of another key) leaves no unrelated key file behind.
    fresh = not env.secret_key and not env.secret_key_file.exists()
    try:
        key = new_master_key() if fresh else master_key(env)
        cipher = NikCipher(key)
    except ValueError as problem:
        raise ConfigError(f"Invalid key (BOT_SECRET_KEY or BOT_SECRET_KEY_FILE): {problem}") from None
    use_for_logs(key)
    url = database_url(db_url, env)
    try:
        # One person at a time across processes: LOCK_BACKEND=memory|redis|postgres (handlers/locks.py).
        locks = build_locks(os.environ.get("LOCK_BACKEND", ""), env.redis_url, url)
    except ValueError as problem:
        raise ConfigError(f"Invalid environment (LOCK_BACKEND, REDIS_URL): {problem}") from None
    db = open_database(url)
    clock = clock or SystemClock()
    try:
        try:
            await prepare_database(db, cipher, wilayah, clock, migrate)
        except KeyMismatch:
            if not (fresh and env.secret_key_file.exists()):
                raise
            # Another process started at the same moment and kept its new key first: use it.
            fresh, key = False, master_key(env)
            cipher = NikCipher(key)
            use_for_logs(key)
            await prepare_database(db, cipher, wilayah, clock, migrate)
    except KeyMismatch as problem:
        await db.dispose()
        raise ConfigError(str(problem)) from None
    except ConfigError:
        await db.dispose()
        raise
    except (OSError, SQLAlchemyError, DatabaseUnavailable) as problem:
        await db.dispose()
        raise database_error(url, problem) from None
    if fresh:
        try:
            kept = write_key_file(env.secret_key_file, key)
        except OSError as problem:
            await db.dispose()
            raise ConfigError(f"Cannot create the key file (BOT_SECRET_KEY_FILE): {problem}") from None
        if kept != key:
            await db.dispose()
            raise ConfigError("Another process created a different key file at the same moment "
                              "(BOT_SECRET_KEY_FILE): start again")
    return Services(
        config=config, rules=rules, catalog=Catalog.load(rules.languages), wilayah=wilayah, db=db,
        cipher=cipher, clock=clock, locks=locks, link_targets=env.link_targets,
        dashboard_url=env.dashboard_url,
    )


async def prepare_database(db: Database, cipher: NikCipher, wilayah: Wilayah, clock: Clock, migrate: bool) -> None:
    """Under the start-up lock (several processes may start at once): the key check (reads
    only), then migrations, the key's fingerprint and the reference data."""
    async with db.startup_lock():
        async with db.session() as session:
            await verify_key(session, cipher)
        # Reached and the right key: said before anything is migrated or written.
        announce(db.url, cipher.fingerprint)
        if not migrate:
            return
        backup = await db.upgrade()
        if backup:
            log.warning("the database was backed up before migrating: %s", backup)
        async with db.session() as session:
            if await record_key(session, cipher, clock.now()):
                log.info("recorded the fingerprint of the encryption key: %s", cipher.fingerprint)
            await session.commit()
        await seed_reference_data(db, cipher, wilayah)


LOCK_BACKENDS = {"PersonLocks": "memory (this process only)", "MemoryLocks": "memory (this process only)", "RedisLocks": "redis", "PostgresLocks": "postgres"}


def startup_summary(svc: Services, channels: list[str], role: str = "bot") -> str:
    """One line at start: database (no password), channels, lock backend, worker mode."""
    delivery = getattr(svc.config, "delivery", None)
    if role == "worker":
        mode = "separate worker process"
    elif delivery is not None and not delivery.embedded_worker:
        mode = "no embedded worker (run `python -m bot worker`)"
    else:
        mode = "embedded worker"
    backend = LOCK_BACKENDS.get(type(svc.locks).__name__, type(svc.locks).__name__)
    return (f"starting {role} {version()}: database {safe_url(svc.db.url)}; channels {', '.join(channels) or 'none'}; "
            f"person locks {backend}; outbox {mode}; key {svc.cipher.fingerprint}")


async def seed_reference_data(db: Database, cipher: NikCipher, wilayah: Wilayah) -> None:
    rows = [
        Nagari(code=n.code, name=n.name, kecamatan_code=n.kecamatan.code, kecamatan=n.kecamatan.name,
               bps_code=n.bps_code)
        for n in wilayah.all_nagari
    ]
    async with db.session() as session:
        changed = await Repository(session, cipher).ensure_nagari(rows)
        await session.commit()
    if changed:
        log.info("nagari reference data: %d rows written", changed)
