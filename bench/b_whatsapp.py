"""WhatsApp webhook: requests/s with signature check and dedupe, p50/p99 at a steady 300 req/s.

The real aiohttp app on a real socket, signed bodies posted over HTTP, the inbox on SQLite and
PostgreSQL (a throw-away database, skipped when the server is unreachable). Each message is a
different person saying "halo"; their handling (conversation + reply to a fake Graph API on
127.0.0.1) runs in the background as in production, so it competes for the same CPU and database.
Open-loop pacing: request i is due at start + i/300 s and its latency counts from then, so a
slow server cannot hide its queueing (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import bench_environment, local_site, p50_p99_ms, sqlite_url, throwaway_postgres
from bot.app import build_services
from bot.commands import CHANNELS
from bot.server import build_app
from bot.whatsapp.channel import WEBHOOK_KEY
from handlers.services import Services
from tests.fake_graph import FakeGraph, environ, message, sign

RATE = 300
CONCURRENCY = 32


def signed_bodies(count: int, tag: str) -> list[tuple[bytes, str]]:
    now = datetime.now(timezone.utc)
    bodies = []
    for i in range(count):
        raw = json.dumps(message(text="halo", wa_id=f"62812{tag}{i:06d}", at=now)).encode()
        bodies.append((raw, sign(raw)))
    return bodies


async def post(session: aiohttp.ClientSession, url: str, body: tuple[bytes, str]) -> bool:
    """True for a 200. Anything else (e.g. 500 when SQLite stays locked past its busy timeout)
    means Meta would redeliver: counted as an error, never as a fast answer."""
    async with session.post(url, data=body[0], headers={"X-Hub-Signature-256": body[1],
                                                        "Content-Type": "application/json"}) as response:
        return response.status == 200


async def closed_loop(session: aiohttp.ClientSession, url: str, bodies: list[tuple[bytes, str]]) -> dict[str, float]:
    """Requests per second with CONCURRENCY requests in flight."""
    queue = list(reversed(bodies))
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while queue:
            errors += not await post(session, url, queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return {"rps": len(bodies) / (time.perf_counter() - started), "errors": errors}


async def open_loop(session: aiohttp.ClientSession, url: str, bodies: list[tuple[bytes, str]],
                    rate: int = RATE) -> dict[str, Any]:
    """Latencies (ms) of requests sent at a steady `rate` per second, counted from when each was
    due; a request answered with an error counts as infinitely slow."""
    latencies: list[float] = []
    start = time.perf_counter() + 0.05

    async def one(i: int, body: tuple[bytes, str]) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        ok = await post(session, url, body)
        latencies.append((time.perf_counter() - due) * 1000 if ok else float("inf"))

    await asyncio.gather(*(one(i, body) for i, body in enumerate(bodies)))
    return {"latencies": latencies, "errors": sum(x == float("inf") for x in latencies)}


@asynccontextmanager
async def served(svc: Services) -> AsyncIterator[tuple[str, Any]]:
    graph = FakeGraph()
    await graph.start()
    # Senders at the upgraded throughput, so the background replies do not pile up for minutes.
    svc.config = svc.config.model_copy(update={"whatsapp": svc.config.whatsapp.model_copy(
        update={"throughput_per_second": 1000})})
    app, channels = await build_app(svc, environ(graph.url), {"wa": CHANNELS["wa"]})
    try:
        async with local_site(app) as base:
            try:
                yield f"{base}/whatsapp/webhook", app[WEBHOOK_KEY]
            finally:
                for channel in channels:
                    if channel.close:
                        await channel.close()
    finally:
        await graph.stop()


def _load(url: str, count: int, seconds: int, go: Any, results: Any) -> None:
    """The load generator, in its own process so that it does not share the server's CPU time.
    Each phase starts on a "go" from the server side, once the previous backlog is handled."""

    async def main() -> None:
        fresh = signed_bodies(count, "1")
        steady = signed_bodies(RATE * seconds, "2")
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for phase in ("new", "duplicates", "steady"):
                go.get()
                if phase == "steady":
                    results.put(await open_loop(session, url, steady))
                else:
                    results.put(await closed_loop(session, url, fresh))

    asyncio.run(main())


async def measure(url_db: str, database: str, quick: bool, tmp: Path) -> list[dict[str, Any]]:
    svc = await build_services(None, url_db, env=bench_environment(tmp))
    count, seconds = (100, 1) if quick else (2000, 10)
    context = multiprocessing.get_context("spawn")
    go, results = context.Queue(), context.Queue()
    loop = asyncio.get_running_loop()
    measured = []
    try:
        async with served(svc) as (url, webhook):
            loader = context.Process(target=_load, args=(url, count, seconds, go, results))
            loader.start()
            for _ in range(3):
                go.put("go")
                measured.append(await loop.run_in_executor(None, results.get))
                await webhook.idle()  # the next phase starts without a handling backlog
            loader.join()
    finally:
        await svc.db.dispose()
    new, duplicates, steady = measured
    latencies = steady["latencies"]
    return [
        {"name": "wa_webhook_new_messages", "database": database, "requests": count,
         "req_per_s": round(new["rps"]), "errors": new["errors"]},
        {"name": "wa_webhook_duplicates", "database": database, "requests": count,
         "req_per_s": round(duplicates["rps"]), "errors": duplicates["errors"]},
        {"name": f"wa_webhook_at_{RATE}_per_s", "database": database, "requests": len(latencies),
         **p50_p99_ms(latencies, scale=1),
         "over_250ms_pct": round(100 * sum(x > 250 for x in latencies) / len(latencies), 2),
         "errors": steady["errors"]},
    ]


async def run(args: Any) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-wa-") as tmp:
        rows += await measure(sqlite_url(Path(tmp)), "sqlite", args.quick, Path(tmp))
        async with throwaway_postgres(args.postgres) as url:
            if url is None:
                rows.append({"name": "wa_webhook", "database": "postgresql", "skipped": "unreachable"})
            else:
                rows += await measure(url, "postgresql", args.quick, Path(tmp))
    return rows
