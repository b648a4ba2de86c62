"""Crash safety with real processes: `python -m bot worker` sending a broadcast to a fake
platform over HTTP, on PostgreSQL, SIGKILLed at random moments and restarted.

Counted at the fake platform: nobody is missed, and duplicates are no more than the messages
that were in flight (one claimed batch per kill). Two workers at once never send a message twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, insert, select

from bot.app import build_services
from bot.config import DEFAULT_CONFIG, PROJECT_ROOT, Environment
from handlers.campaigns import launch
from handlers.clock import SystemClock
from handlers.services import Services
from storage.models import Person
from storage.outbox import Campaign, OutboxMessage
from tests.fake_platform import FakePlatform

pytestmark = pytest.mark.slow
BATCH = 25
KEY = secrets.token_urlsafe(48)


def worker_config(tmp_path: Path, processes: int = 1) -> Path:
    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config["delivery"].update({
        # Equal start and end: no quiet hours, so the test does not depend on the time of day.
        "quiet_start": "00:00", "quiet_end": "00:00",
        "worker_processes": processes, "lease_seconds": 3, "batch_size": BATCH, "poll_seconds": 0.1,
    })
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
async def platform() -> AsyncIterator[FakePlatform]:
    fake = FakePlatform()
    await fake.start()
    yield fake
    await fake.stop()


async def broadcast_to(svc: Services, people: int) -> int:
    """`people` people who wrote to the bot, and a broadcast to all of them, launched."""
    now = svc.clock.now()
    async with svc.db.session() as session:
        await session.execute(insert(Person), [
            {"channel_user": f"tg:{100000 + n}", "lang": "id", "created_at": now, "opted_out": False,
             "unreachable": False, "failed_deliveries": 0} for n in range(people)])
        campaign = Campaign(created_by="tg:1", created_at=now, updated_at=now, state="scheduled", scheduled_at=now,
                            text_id="Kerja Keras Bebas Cemas", audience={})
        session.add(campaign)
        await session.flush()
        assert campaign.id is not None
        assert await launch(session, svc, campaign.id, now) == people
        await session.commit()
        return campaign.id


async def services(tmp_path: Path, url: str, config: Path) -> Services:
    env = Environment(secret_key=KEY, secret_key_file=tmp_path / "unused.key")
    return await build_services(config, url, clock=SystemClock(), env=env)


async def start_worker(url: str, config: Path, platform: FakePlatform, name: str,
                       rate: int) -> asyncio.subprocess.Process:
    """A `python -m bot worker` whose channel "tg" sends to the fake platform, its sender paced at
    the platform's limit `rate` (shared by `delivery.worker_processes`)."""
    env = {**os.environ, "BOT_SECRET_KEY": KEY, "FAKE_PLATFORM_URL": platform.url, "LOG_LEVEL": "WARNING",
           "FAKE_PLATFORM_RATE": str(rate)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", "--plugin", "tests.fake_platform", "--no-scheduler",
        "--name", name, "--config", str(config), "--db", url, cwd=PROJECT_ROOT, env=env)


async def unfinished(svc: Services) -> int:
    async with svc.db.session() as session:
        return (await session.execute(select(func.count()).where(
            OutboxMessage.state.in_(("queued", "sending"))))).scalar_one()


async def wait_until_done(svc: Services, timeout: float = 180) -> None:
    for _ in range(int(timeout * 10)):
        if await unfinished(svc) == 0:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the outbox was not emptied in time")


async def test_killed_workers_miss_nobody_and_repeat_at_most_what_was_in_flight(
        tmp_path: Path, postgres_url: str, platform: FakePlatform) -> None:
    people, kills = 5000, 3
    config = worker_config(tmp_path)
    svc = await services(tmp_path, postgres_url, config)
    try:
        await broadcast_to(svc, people)
        rng = random.Random(6)
        for round_ in range(kills):
            worker = await start_worker(postgres_url, config, platform, f"w{round_}", rate=400)
            target = len(platform.received) + rng.randint(50, 1200)
            for _ in range(600):
                if len(platform.received) >= target or worker.returncode is not None:
                    break
                await asyncio.sleep(0.05)
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        last = await start_worker(postgres_url, config, platform, "last", rate=400)
        await wait_until_done(svc)
        last.send_signal(signal.SIGTERM)
        assert await last.wait() == 0
        counts = platform.per_person()
        assert len(counts) == people, "somebody was missed"
        duplicates = sum(n - 1 for n in counts.values())
        assert duplicates <= kills * BATCH
        async with svc.db.session() as session:
            states = dict((await session.execute(select(OutboxMessage.state, func.count())
                                                 .group_by(OutboxMessage.state))).all())
        assert states == {"sent": people}
    finally:
        await svc.db.dispose()


async def test_two_workers_on_postgresql_never_send_the_same_message_twice(
        tmp_path: Path, postgres_url: str, platform: FakePlatform) -> None:
    people, limit = 2000, 300
    config = worker_config(tmp_path, processes=2)
    svc = await services(tmp_path, postgres_url, config)
    try:
        await broadcast_to(svc, people)
        workers = [await start_worker(postgres_url, config, platform, f"pair{n}", rate=limit) for n in range(2)]
        await wait_until_done(svc)
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
            assert await worker.wait() == 0
        counts = platform.per_person()
        assert len(counts) == people and set(counts.values()) == {1}
        async with svc.db.session() as session:
            names = set((await session.execute(select(OutboxMessage.claimed_by).distinct())).scalars().all())
        assert names == {"pair0", "pair1"}
        # Together they keep to the channel's limit, on the platform's clock.
        assert platform.max_per_second("tg") <= limit
    finally:
        await svc.db.dispose()


async def test_a_killed_worker_repeats_at_most_a_seconds_sending(
        tmp_path: Path, postgres_url: str, platform: FakePlatform) -> None:
    """The batch size allows 50, but a worker claims only what it sends in about a second at
    the channel's rate: each kill repeats at most that."""
    people, kills, rate = 120, 3, 20
    config = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    config["delivery"].update({"quiet_start": "00:00", "quiet_end": "00:00",
                               "lease_seconds": 2, "batch_size": 50, "claim_seconds": 1.0, "poll_seconds": 0.1})
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    svc = await services(tmp_path, postgres_url, path)
    per_claim = int(rate * 0.95)  # the sender's pace: rate x rate_headroom (0.95), for claim_seconds 1
    try:
        await broadcast_to(svc, people)
        rng = random.Random(9)
        for round_ in range(kills):
            worker = await start_worker(postgres_url, path, platform, f"k{round_}", rate=rate)
            target = len(platform.received) + rng.randint(10, 40)
            for _ in range(600):
                if len(platform.received) >= target or worker.returncode is not None:
                    break
                await asyncio.sleep(0.02)
            worker.send_signal(signal.SIGKILL)
            await worker.wait()
        last = await start_worker(postgres_url, path, platform, "last", rate=rate)
        await wait_until_done(svc)
        last.send_signal(signal.SIGTERM)
        assert await last.wait() == 0
        counts = platform.per_person()
        assert len(counts) == people, "somebody was missed"
        duplicates = sum(n - 1 for n in counts.values())
        print(f"{kills} kills during a {people}-person broadcast: {duplicates} duplicates "
              f"(at most {per_claim} per kill)")
        assert duplicates <= kills * per_claim
        async with svc.db.session() as session:
            claimed = (await session.execute(select(func.count()).where(OutboxMessage.attempts > 1))).scalar_one()
        assert claimed <= kills * per_claim
    finally:
        await svc.db.dispose()
