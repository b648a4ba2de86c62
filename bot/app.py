"""Builds the Services every entry point uses: configuration, keys, database, reference data."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy.exc import ArgumentError

from bot.config import PROJECT_ROOT, AppConfig, ConfigError, Environment, load_config
from conversations.i18n import Catalog
from conversations.wilayah import Wilayah
from handlers.clock import Clock, SystemClock
from handlers.locks import build_locks
from handlers.services import Services
from storage.crypto import NikCipher, load_master_key, use_for_logs
from storage.db import Database
from storage.models import Nagari
from storage.repo import Repository

log = logging.getLogger(__name__)
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'bot.sqlite3'}"


def database_url(explicit: str | None, env: Environment) -> str:
    return explicit or env.database_url or DEFAULT_DATABASE_URL


def load_wilayah(config: AppConfig) -> Wilayah:
    crosswalk = config.resolve(config.data.crosswalk_csv) if config.data.crosswalk_csv else None
    return Wilayah.load(config.resolve(config.data.wilayah_csv), crosswalk)


async def build_services(
    config_path: str | Path | None = None,
    db_url: str | None = None,
    clock: Clock | None = None,
    env: Environment | None = None,
    migrate: bool = True,
) -> Services:
    env = env or Environment.from_env()
    config = load_config(config_path)
    rules = config.flow_rules()
    wilayah = load_wilayah(config)
    master_key = load_master_key(env.secret_key, env.secret_key_file)
    cipher = NikCipher(master_key)
    use_for_logs(master_key)
    url = database_url(db_url, env)
    try:
        # One person at a time across processes: LOCK_BACKEND=memory|redis|postgres (handlers/locks.py).
        locks = build_locks(os.environ.get("LOCK_BACKEND", ""), env.redis_url, url)
    except ValueError as problem:
        raise ConfigError(f"Invalid environment: {problem}") from None
    try:
        db = Database(url)
    except (ValueError, ArgumentError) as problem:
        raise ConfigError(f"Invalid database URL (DATABASE_URL or --db): {problem}") from None
    if migrate:
        await db.upgrade()
        await seed_reference_data(db, cipher, wilayah)
    return Services(
        config=config, rules=rules, catalog=Catalog.load(rules.languages), wilayah=wilayah, db=db,
        cipher=cipher, clock=clock or SystemClock(), locks=locks,
    )


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
