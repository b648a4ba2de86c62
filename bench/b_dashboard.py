"""The dashboard at the regency's scale and beyond: every page with 1,000,000 registrations.

The 62 nagari of Sijunjung with 1,000,000 registrations between them (--quick: 10,000), spread
over the budget year, with decisions hours to days after submission; 50,000 conversations and
consents in the funnel's window, two campaigns of 20,000 messages with WhatsApp receipts, and a
few hundred tickets. Rows are made by bench/b_officials.py's generator (one NIK ciphertext, a
unique hash and reference per row), loaded with COPY on PostgreSQL and executemany on SQLite.

Each page is fetched over HTTP from the dashboard mounted as bot/server.py mounts it, with a
logged-in session, as a browser would. Reported per page, in ms:
`cold` (the figures counted, the cache emptied before each request: what the first look at a
page after a quiet day, or a restart, waits) and `p50`/`p95` over REQUESTS requests as they come
(the cache answering: figures in use are counted again in the background before they expire,
bot/dashboard/cache.py, so this is what officials wait during the day), and `loop_lag_ms`: the
longest the event loop was held during the cold requests (a webhook arriving then waits that long).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
from aiohttp import web
from sqlalchemy import insert, text

from bench.b_officials import copy_rows, registration_row
from bench.common import bench_environment, local_site, percentile, sqlite_url, throwaway_postgres
from bot.app import build_services
from bot.dashboard import setup
from bot.dashboard.web import DASHBOARD
from handlers.clock import LOCAL_TZ, FixedClock
from handlers.dashboard.access import login_link
from handlers.roles import grant
from handlers.services import Services
from storage.models import Consent, Conversation, Registration
from storage.outbox import Campaign, OutboxMessage
from storage.tickets import Ticket
from storage.whatsapp import OutboundMessage

NOW = datetime(2026, 11, 28, 10, 0, tzinfo=LOCAL_TZ)
SPREAD = timedelta(days=330)
ADMIN, OPERATOR = "tg:1", "tg:2"
REQUESTS = 40
COLD_RUNS = 5
STEPS = ["consent", "eligibility", "member", "work", "category", "name", "nik", "nagari", "jorong", "phone",
         "income", "heir", "summary", "done", "idle"]


def spread_row(row: dict[str, Any], i: int, rows: int, codes: list[str]) -> dict[str, Any]:
    """b_officials' row moved into a real nagari and spread over the budget year."""
    created = NOW - SPREAD * (i / rows) - timedelta(minutes=5)
    row["nagari_code"] = codes[i % len(codes)]
    row["created_at"] = row["updated_at"] = created
    if row["decided_at"] is not None:
        decided = created + timedelta(hours=1 + (i * 7919) % 240)
        row["decided_at"] = min(decided, NOW - timedelta(minutes=1))
    return row


async def load(svc: Services, rows: int) -> float:
    started = time.perf_counter()
    codes = sorted(n.code for n in svc.wilayah.all_nagari)
    nik_enc = svc.cipher.encrypt("1303051203850001")
    chunk = 50_000
    for first in range(0, rows, chunk):
        batch = [spread_row(registration_row(i, 0, rows, nik_enc), i, rows, codes)
                 for i in range(first, min(first + chunk, rows))]
        if svc.db.is_sqlite:
            async with svc.db.session() as session:
                await session.execute(insert(Registration), batch)
                await session.commit()
        else:
            await copy_rows(svc, batch)
    people = min(50_000, rows)
    async with svc.db.session() as session:
        await session.execute(insert(Consent), [
            {"channel_user": f"wa:62812{i:08d}" if i % 3 else f"tg:{i}", "version": "2026-11-28", "lang": "id",
             "method": "chat", "given_at": NOW - timedelta(hours=1 + i % 600)} for i in range(people)])
        await session.execute(insert(Conversation), [
            {"channel_user": f"wa:62812{i:08d}" if i % 3 else f"tg:{i}", "step": STEPS[i % len(STEPS)], "state": "{}",
             "updated_at": NOW - timedelta(hours=1 + i % 600)} for i in range(people)])
        for number in (1, 2):
            campaign = Campaign(created_by=ADMIN, created_at=NOW - timedelta(days=10 * number), updated_at=NOW,
                                state="done", total=20_000, started_at=NOW - timedelta(days=10 * number),
                                finished_at=NOW - timedelta(days=10 * number - 1),
                                report={"cost": {"estimate": "1234567", "currency": "IDR"}})
            session.add(campaign)
            await session.flush()
            messages = [{"kind": "campaign", "campaign_id": campaign.id, "channel_user": f"wa:62813{number}{i:07d}",
                         "key": "campaign.message", "state": "sent" if i % 50 else "failed", "priority": 3,
                         "attempts": 1, "not_before": NOW, "created_at": NOW, "message_id": f"wamid.{number}.{i}"}
                        for i in range(min(20_000, rows // 50))]
            await session.execute(insert(OutboxMessage), messages)
            await session.execute(insert(OutboundMessage), [
                {"message_id": m["message_id"], "channel_user": m["channel_user"], "kind": "template", "priority": 3,
                 "status": ("read", "delivered", "sent", "failed")[i % 4], "created_at": NOW, "updated_at": NOW}
                for i, m in enumerate(messages) if m["state"] == "sent"])
        await session.execute(insert(Ticket), [
            {"channel_user": f"tg:9{i:05d}", "nagari_code": codes[i % len(codes)], "routed_to": "nagari",
             "lang": "id", "status": ("open", "taken", "closed")[i % 3], "opened_at": NOW - timedelta(hours=i),
             "answered_at": NOW - timedelta(hours=i) + timedelta(minutes=5) if i % 3 else None,
             "last_activity_at": NOW, "unpushed": 0} for i in range(300)])
        await grant(session, ADMIN, "admin", None, "bench", NOW)
        await grant(session, OPERATOR, "operator", codes[len(codes) // 2], "bench", NOW)
        await session.commit()
    async with svc.db.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    return time.perf_counter() - started


class LoopLag:
    """The longest the event loop was late for a 5 ms tick while the block ran."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - before - 0.005)

    async def __aenter__(self) -> "LoopLag":
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self._task is not None
        self._task.cancel()


async def session_for(http: aiohttp.ClientSession, svc: Services, base: str, who: str) -> None:
    async with svc.db.session() as session:
        url = await login_link(svc, session, who, svc.clock.now(), base_url=base)
        await session.commit()
    assert url is not None
    async with http.post(base + urlparse(url).path, allow_redirects=False) as response:
        assert response.status == 303, response.status


async def fetch(http: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with http.get(url) as response:
        await response.read()
        assert response.status == 200, (url, response.status)
    return (time.perf_counter() - started) * 1000


async def measure(url: str, database: str, rows: int, folder: Path, requests: int) -> list[dict[str, Any]]:
    svc = await build_services(None, url, clock=FixedClock(NOW), env=bench_environment(folder))
    try:
        seconds = await load(svc, rows)
        results: list[dict[str, Any]] = [{"name": "dashboard.load", "database": database, "rows": rows,
                                          "seconds": round(seconds, 1)}]
        app = web.Application()
        dashboard = setup(app, svc)[DASHBOARD]  # as bot/server.build_app mounts it
        operator_code = sorted(n.code for n in svc.wilayah.all_nagari)[31]
        pages = [("overview", ADMIN, "/dasbor/"), ("board", ADMIN, "/dasbor/nagari"),
                 ("nagari", ADMIN, f"/dasbor/nagari/{operator_code}"), ("funnel", ADMIN, "/dasbor/corong"),
                 ("health", ADMIN, "/dasbor/layanan"), ("campaigns", ADMIN, "/dasbor/kampanye"),
                 ("sources", ADMIN, "/dasbor/sumber"), ("board.operator", OPERATOR, "/dasbor/nagari"),
                 ("nagari.operator", OPERATOR, f"/dasbor/nagari/{operator_code}"),
                 ("overview.xlsx", ADMIN, "/dasbor/?format=xlsx")]
        async with local_site(app) as base:
            clients = {}
            for who in (ADMIN, OPERATOR):
                clients[who] = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
                await session_for(clients[who], svc, base, who)
            try:
                for label, who, path in pages:
                    http = clients[who]
                    cold = []
                    async with LoopLag() as lag:
                        for _ in range(COLD_RUNS):
                            dashboard.cache.clear()
                            cold.append(await fetch(http, base + path))
                    warm = [await fetch(http, base + path) for _ in range(requests)]
                    results.append({"name": f"dashboard.{label}", "database": database, "rows": rows,
                                    "cold_p50_ms": round(statistics.median(cold), 1),
                                    "cold_max_ms": round(max(cold), 1),
                                    "p50_ms": round(statistics.median(warm), 1),
                                    "p95_ms": round(percentile(warm, 95), 1),
                                    "loop_lag_ms": round(lag.worst * 1000, 1)})
            finally:
                for http in clients.values():
                    await http.close()
        return results
    finally:
        await svc.db.dispose()


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = 10_000 if args.quick else 1_000_000
    requests = 5 if args.quick else REQUESTS
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp:
        folder = Path(tmp)
        results += await measure(sqlite_url(folder), "sqlite", rows, folder, requests)
        async with throwaway_postgres(args.postgres) as url:
            if url is None:
                results.append({"name": "dashboard", "database": "postgresql", "skipped": "unreachable"})
            else:
                results += await measure(url, "postgresql", rows, folder, requests)
    return results

