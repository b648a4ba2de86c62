"""Officials at a province-sized load: first queue page, details, statistics, one nagari's export.

A database of 1,000,000 registrations across 10,000 nagari (--quick: 10,000 across 100), on
SQLite and on PostgreSQL (a throw-away database on --postgres, skipped if unreachable). Rows are
generated in bulk: one NIK ciphertext reused (decrypting is what an export costs), a unique
nik_hash and reference per row; PostgreSQL loads with COPY, SQLite with executemany. Each
command runs through handlers.router.dispatch, as a message from an official would; the median
of 3 runs is reported in milliseconds (the first, cold run separately).

Then, on the same database, the WhatsApp webhook at a steady WEBHOOK_RATE requests per second
(signed bodies from a load process of its own, each a new person saying "halo", handled in the
background as in production) for WEBHOOK_SECONDS, twice: quiet, then while the admin's
/statistik runs over and over. Its p50/p99 (ms, open loop: counted from when each request was
due) must stay under 250 ms: statistics read and draw on the long-read thread
(storage/long_reads.py), never on the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.exc import DBAPIError

from bench.common import bench_environment, p50_p99_ms, sqlite_url, throwaway_postgres
from bot.app import build_services
from conversations.events import Text
from handlers.clock import FixedClock
from handlers.roles import grant
from handlers.router import dispatch
from handlers.services import Services
from storage.models import Nagari, Registration
from storage.repo import REFERENCE_ALPHABET

START = datetime(2026, 11, 1, 8, 0, tzinfo=timezone.utc)
NAGARI_PER_KECAMATAN = 100
# Of every 100 registrations of a nagari: pending, approved, enrolled, rejected, waiting.
STATUS_CYCLE = ["pending"] * 40 + ["approved"] * 35 + ["enrolled"] * 15 + ["rejected"] * 5 + ["waiting"] * 5
CATEGORIES = ["petani", "pedagang", "ojek", "guru_mengaji", "marbot", "peternak", "nelayan", "buruh_harian"]
ADMIN, OPERATOR = "tg:1", "tg:2"
RUNS = 3
# The webhook's load while statistics run, and how long each phase lasts: a third of what one
# process takes on the 2-core reference machine (b_whatsapp: about 300 new messages a second),
# so that the quiet phase itself is not queueing.
WEBHOOK_RATE = 100
WEBHOOK_SECONDS = 10


def reference(i: int) -> str:
    """A unique reference per row (base 31 in the reference alphabet)."""
    chars = []
    for _ in range(6):
        i, digit = divmod(i, len(REFERENCE_ALPHABET))
        chars.append(REFERENCE_ALPHABET[digit])
    return "SJ-" + "".join(reversed(chars))


def nagari_code(n: int) -> str:
    return f"77.01.{n // NAGARI_PER_KECAMATAN:02d}.{n % NAGARI_PER_KECAMATAN:04d}"


def registration_row(i: int, nagari: int, per_nagari: int, nik_enc: str) -> dict[str, Any]:
    created = START + timedelta(seconds=i)
    status = STATUS_CYCLE[(i % per_nagari) % len(STATUS_CYCLE)]
    decided = created + timedelta(days=1) if status != "pending" else None
    return {
        "reference": reference(i), "status": status, "nik_enc": nik_enc, "nik_hash": f"{i:064x}",
        "name": f"Pekerja {i}", "sex": "L", "birth_date": date(1985, 3, 12), "birth_date_nik": date(1985, 3, 12),
        "nagari_code": nagari_code(nagari), "jorong": "Koto Tuo", "phone": f"+62812{i:08d}",
        "category": CATEGORIES[i % len(CATEGORIES)], "category_other": None, "income": 1_000_000,
        "income_base": 1_000_000, "monthly_contribution": 16_800, "heir_name": None, "heir_relation": None,
        "flags": [], "funding_source": "apb_nagari", "channel_user": f"wa:62812{i:08d}", "lang": "id",
        "consent_id": None, "created_at": created, "updated_at": created, "decided_at": decided,
        "decided_by": "tg:2" if decided else None, "decision_reason": None, "kpj": None, "coverage_start": None,
    }


async def load(svc: Services, rows: int, nagari: int) -> float:
    """Insert the synthetic nagari and registrations; returns the seconds it took."""
    started = time.perf_counter()
    nik_enc = svc.cipher.encrypt("1303051203850001")
    per_nagari = rows // nagari
    async with svc.db.session() as session:
        await session.execute(insert(Nagari), [
            {"code": nagari_code(n), "name": f"Nagari {n}", "kecamatan_code": nagari_code(n)[:8],
             "kecamatan": f"Kecamatan {n // NAGARI_PER_KECAMATAN}", "bps_code": None} for n in range(nagari)])
        await session.commit()
    chunk = 50_000
    for first in range(0, rows, chunk):
        batch = [registration_row(i, i // per_nagari, per_nagari, nik_enc) for i in range(first, min(first + chunk, rows))]
        if svc.db.is_sqlite:
            async with svc.db.session() as session:
                await session.execute(insert(Registration), batch)
                await session.commit()
        else:
            await copy_rows(svc, batch)
    async with svc.db.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))
    # Settled, as a province's database is between two bulk loads: PostgreSQL's autovacuum of
    # the new rows and its checkpointer writing them out, or SQLite's checkpoint of a WAL as
    # large as the table, would otherwise run during the measurements.
    async with svc.db.engine.connect() as connection:
        if svc.db.is_sqlite:
            await connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            await autocommit.exec_driver_sql("VACUUM")
            try:
                await autocommit.exec_driver_sql("CHECKPOINT")
            except DBAPIError:
                pass  # not a superuser (pg_checkpoint role): the checkpointer keeps its own pace
    return time.perf_counter() - started


async def copy_rows(svc: Services, batch: list[dict[str, Any]]) -> None:
    """PostgreSQL COPY through asyncpg: the fastest bulk load."""
    columns = list(batch[0])
    async with svc.db.engine.connect() as connection:
        raw = await connection.get_raw_connection()
        records = [tuple(json.dumps(row[c]) if c == "flags" else row[c] for c in columns) for row in batch]
        await raw.driver_connection.copy_records_to_table("registration", records=records, columns=columns)


async def timed(svc: Services, who: str, command: str) -> tuple[float, float, str]:
    """(cold ms, median ms of RUNS, first reply key) of one command."""
    times, key = [], ""
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        out = await dispatch(svc, who, Text(command))
        times.append((time.perf_counter() - started) * 1000)
        key = out[0].reply.key if out else "-"
    return round(times[0], 1), round(statistics.median(times[1:]), 1), key


async def timed_cli_export(svc: Services, nagari_code: str) -> dict[str, Any]:
    """`python -m bot export --status all --nagari CODE` (without the process start): ms and rows."""
    import io

    from handlers.export import ExportRequest, export_csv, selection_of

    times, count = [], 0
    for _ in range(RUNS + 1):
        started = time.perf_counter()
        selection = await selection_of(svc, ExportRequest(status="all", nagari=nagari_code))
        count = await export_csv(svc, io.StringIO(newline=""), selection)
        times.append((time.perf_counter() - started) * 1000)
    return {"cold_ms": round(times[0], 1), "median_ms": round(statistics.median(times[1:]), 1), "exported": count}


async def measure(url: str, database: str, rows: int, nagari: int, folder: Path) -> list[dict[str, Any]]:
    svc = await build_services(None, url, clock=FixedClock(START + timedelta(days=40)), env=bench_environment(folder))
    svc.config = svc.config.model_copy(update={"officials": svc.config.officials.model_copy(update={
        "export_dir": folder / "exports", "chart_dir": folder / "charts"})})
    try:
        seconds = await load(svc, rows, nagari)
        middle = nagari_code(nagari // 2)
        async with svc.db.session() as session:
            await grant(session, ADMIN, "admin", None, "bench", svc.clock.now())
            await grant(session, OPERATOR, "operator", middle, "bench", svc.clock.now())
            await session.commit()
        one = reference((nagari // 2) * (rows // nagari))  # the middle nagari's first (pending)
        results = [{"name": "officials.load", "database": database, "rows": rows, "nagari": nagari,
                    "seconds": round(seconds, 1)}]
        for label, who, command in [
            ("queue.first_page.operator", OPERATOR, "/antrian"),
            ("queue.first_page.admin", ADMIN, "/antrian"),
            ("details", OPERATOR, f"/lihat {one}"),
            ("stats.admin_all", ADMIN, "/statistik"),
            ("stats.operator", OPERATOR, "/statistik"),
            ("export.one_nagari_xlsx", OPERATOR, "/ekspor"),
            ("export.one_nagari_csv", OPERATOR, "/ekspor csv"),
        ]:
            cold, median, key = await timed(svc, who, command)
            results.append({"name": f"officials.{label}", "database": database, "rows": rows,
                            "cold_ms": cold, "median_ms": median, "answer": key})
        results.append({"name": "officials.export.cli_csv_one_nagari", "database": database, "rows": rows,
                        **await timed_cli_export(svc, middle)})
        results += await webhook_during_statistics(svc, database, rows, 1 if rows < 100_000 else WEBHOOK_SECONDS)
        return results
    finally:
        await svc.db.dispose()


def _webhook_load(url: str, seconds: int, sent_at: float, go: Any, results: Any) -> None:
    """The load generator, in a process of its own (b_whatsapp's open loop): one steady phase of
    WEBHOOK_RATE requests a second for each "go", its latencies put on `results`."""
    import aiohttp

    from bench.b_whatsapp import open_loop
    from tests.fake_graph import message, sign

    async def main() -> None:
        at = datetime.fromtimestamp(sent_at, timezone.utc)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for phase in range(2):
                bodies = []
                for i in range(WEBHOOK_RATE * seconds):
                    raw = json.dumps(message(text="halo", wa_id=f"62819{phase}{i:07d}", at=at)).encode()
                    bodies.append((raw, sign(raw)))
                go.get()
                results.put(await open_loop(session, url, bodies, WEBHOOK_RATE))

    asyncio.run(main())


async def webhook_during_statistics(svc: Services, database: str, rows: int, seconds: int) -> list[dict[str, Any]]:
    """The webhook's latency quiet, then while the admin's /statistik runs again and again. The
    heap is settled first, as the server settles it after start-up (bot/heap.py): loading a
    million rows left this process's collector far more to walk than a server's."""
    from bench.b_whatsapp import served
    from bot import heap

    heap.settle()

    context = multiprocessing.get_context("spawn")
    go, results = context.Queue(), context.Queue()
    loop = asyncio.get_running_loop()
    phases: list[dict[str, Any]] = []
    took: list[float] = []
    async with served(svc) as (url, webhook):
        loader = context.Process(target=_webhook_load, args=(url, seconds, svc.clock.now().timestamp(), go, results))
        loader.start()
        for during in (False, True):
            stop = asyncio.Event()
            statistics_runs = asyncio.create_task(_statistics_until(svc, stop, took)) if during else None
            if statistics_runs is not None:
                await asyncio.sleep(0.2)  # the first one is under way when the load starts
            go.put("go")
            phases.append(await loop.run_in_executor(None, results.get))
            stop.set()
            if statistics_runs is not None:
                await statistics_runs
            await webhook.idle()
        loader.join()
    rows_out = []
    for label, phase in zip(("quiet", "during_statistics"), phases):
        latencies = phase["latencies"]
        rows_out.append({"name": f"officials.webhook_at_{WEBHOOK_RATE}_per_s.{label}", "database": database,
                         "rows": rows, "requests": len(latencies), **p50_p99_ms(latencies, scale=1),
                         "over_250ms_pct": round(100 * sum(x > 250 for x in latencies) / len(latencies), 2),
                         "errors": phase["errors"],
                         **({"statistics_runs": len(took), "statistics_median_ms": round(statistics.median(took) * 1000)}
                            if label != "quiet" and took else {})})
    return rows_out


async def _statistics_until(svc: Services, stop: asyncio.Event, took: list[float]) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await dispatch(svc, ADMIN, Text("/statistik"))
        took.append(time.perf_counter() - started)


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows, nagari = (10_000, 100) if args.quick else (1_000_000, 10_000)
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-officials-") as tmp:
        folder = Path(tmp)
        results += await measure(sqlite_url(folder), "sqlite", rows, nagari, folder)
        async with throwaway_postgres(args.postgres) as url:
            if url is None:
                results.append({"name": "officials", "database": "postgresql", "skipped": "unreachable"})
            else:
                results += await measure(url, "postgresql", rows, nagari, folder)
    return results
