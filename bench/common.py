"""Helpers shared by the benchmark modules (not a benchmark itself: no `b_` prefix, no `run`).

throwaway_postgres: a fresh PostgreSQL database on --postgres for one run, dropped afterwards.
bench_environment / sqlite_url: the secrets and SQLite file of a run inside its temporary folder.
percentile / p50_p99_ms: the latency summary the rows report.
PeakMemory: the peak RSS of this process while a block runs.
local_site: an aiohttp app served on 127.0.0.1 at a free port.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import psutil
from aiohttp import web

from bot.config import Environment

# How often PeakMemory samples the RSS.
RSS_SAMPLE_SECONDS = 0.05


@asynccontextmanager
async def throwaway_postgres(server: str) -> AsyncIterator[str | None]:
    """The URL of a fresh database on `server`, dropped (WITH (FORCE)) afterwards; None when the
    server is unreachable, so that the caller skips its PostgreSQL run."""
    import asyncpg

    admin_url = server.replace("postgresql+asyncpg://", "postgresql://")
    try:
        admin = await asyncpg.connect(admin_url, timeout=3)
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        admin = None
    if admin is None:
        yield None
        return
    name = f"bench_{uuid.uuid4().hex[:10]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield urlparse(admin_url)._replace(path=f"/{name}").geturl()
    finally:
        # A new connection: the run may take half an hour, longer than an idle one should be trusted.
        admin = await asyncpg.connect(admin_url, timeout=3)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def bench_environment(folder: Path) -> Environment:
    """Secrets for one run: a random key (the key file in `folder` is never used)."""
    return Environment(secret_key=secrets.token_urlsafe(48), secret_key_file=folder / "unused.key")


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'bench.sqlite3'}"


def percentile(values: list[float], p: float) -> float:
    """The value below which p % of `values` lie (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def p50_p99_ms(values: list[float], scale: float = 1000.0) -> dict[str, float]:
    """{"mean_ms", "p50_ms", "p99_ms"} of `values` (seconds; pass scale=1 for values already in ms)."""
    return {"mean_ms": round(statistics.fmean(values) * scale, 1), "p50_ms": round(statistics.median(values) * scale, 1),
            "p99_ms": round(percentile(values, 99) * scale, 1)}


class PeakMemory:
    """Peak RSS of this process (bytes, in .peak) while the block runs, sampled in a thread so
    that a busy event loop cannot delay the sampling."""

    def __init__(self) -> None:
        self.peak = 0
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._process.memory_info().rss)
            time.sleep(RSS_SAMPLE_SECONDS)

    def __enter__(self) -> "PeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


@asynccontextmanager
async def local_site(app: web.Application) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at a free port; yields its base URL (http://127.0.0.1:PORT)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]  # the site's socket (aiohttp's public list of them)
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
