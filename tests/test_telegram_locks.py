"""Several bot processes: person locks shared through Redis or PostgreSQL keep one person's
updates strictly in order and handled once, whichever process receives them.

"Two processes" are two Services (each with its own engine, locks and Telegram channel) in this
test process, on one PostgreSQL database, fed alternately like a load balancer would."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.app import build_services
from handlers.clock import FixedClock
from handlers.locks import MemoryLocks, PostgresLocks, RedisLocks, build_locks
from handlers.services import Services
from storage.inbox import InboundUpdate
from storage.repo import Repository
from tests.conftest import test_env as make_env
from tests.fake_telegram import SECRET, FakeTelegram, running_bot


def shared_locks(kind: str, request: pytest.FixtureRequest, postgres_url: str) -> list[RedisLocks | PostgresLocks]:
    """Two processes' locks on the same server (Redis keys under one per-test prefix)."""
    if kind == "redis":
        prefix = f"test:{uuid.uuid4().hex}:"
        return [RedisLocks(request.getfixturevalue("redis_url"), prefix=prefix) for _ in range(2)]
    return [PostgresLocks(postgres_url) for _ in range(2)]


@pytest.fixture(params=["redis", "postgres"])
async def two_processes(request: pytest.FixtureRequest, postgres_url: str, clock: FixedClock,
                        tmp_path: Path) -> AsyncIterator[tuple[Services, Services]]:
    env = make_env(tmp_path)  # one key: both processes read each other's inbox rows
    first = await build_services(None, postgres_url, clock=clock, env=env)
    second = await build_services(None, postgres_url, clock=clock, env=env, migrate=False)
    first.locks, second.locks = shared_locks(request.param, request, postgres_url)
    yield first, second
    for services in (first, second):
        await services.locks.close()
        await services.db.dispose()


@pytest.mark.parametrize("kind", ["redis", "postgres"])
async def test_a_shared_lock_excludes_across_processes(kind: str, request: pytest.FixtureRequest,
                                                       postgres_url: str) -> None:
    first, second = shared_locks(kind, request, postgres_url)
    inside: list[str] = []

    async def turn(locks: RedisLocks | PostgresLocks, name: str) -> None:
        async with locks.hold("tg:700000001"):
            inside.append(f"{name} in")
            await asyncio.sleep(0.05)
            inside.append(f"{name} out")

    try:
        await asyncio.gather(*(turn(locks, f"{n}") for n, locks in enumerate([first, second] * 3)))
    finally:
        await first.close()
        await second.close()
    # Never two inside at once: every "in" is followed by its own "out".
    assert all(inside[i].split()[0] == inside[i + 1].split()[0] for i in range(0, len(inside), 2)), inside


async def test_two_processes_keep_each_persons_order(two_processes: tuple[Services, Services]) -> None:
    first, second = two_processes
    fake = FakeTelegram()
    await fake.start()
    try:
        async with running_bot(first, fake, webhook=True) as bot_a, running_bot(second, fake, webhook=True) as bot_b:
            people = [bot_a.person(user_id=700000200 + n) for n in range(4)]
            steps = ["halo", "lang:id", "consent:yes", "yn:yes", "member:no"]
            posts = []
            for number, step in enumerate(steps):
                for person in people:
                    update = person.text_update(step) if number == 0 else person.tap_update(step)
                    # Alternate processes, as a load balancer would.
                    person.webhook = (bot_a if (number + person.user_id) % 2 else bot_b).webhook
                    posts.append(person.post(update, SECRET))
                assert all(status == 200 for status in await asyncio.gather(*posts[-len(people):]))
            await asyncio.gather(bot_a.settle(), bot_b.settle())
            for person in people:
                person.read()
                assert not person.said("button.stale"), person.keys
                assert sum("welcome" in key for key in person.keys) == 1, person.keys
                async with first.db.session() as session:
                    state = await Repository(session, first.cipher).load_state(person.channel_user)
                assert state.step == "elig_work"
            async with first.db.session() as session:
                pending = await session.execute(
                    select(func.count()).select_from(InboundUpdate).where(InboundUpdate.handled_at.is_(None)))
                assert pending.scalar_one() == 0
    finally:
        await fake.stop()


def test_lock_backend_is_chosen_by_configuration() -> None:
    assert isinstance(build_locks(""), MemoryLocks)
    assert isinstance(build_locks("", redis_url="redis://127.0.0.1:6379/0"), RedisLocks)
    assert isinstance(build_locks("postgres", database_url="postgresql://postgres@127.0.0.1/x"), PostgresLocks)
    with pytest.raises(ValueError):
        build_locks("zookeeper")
    with pytest.raises(ValueError):
        build_locks("postgres", database_url="sqlite:///x.sqlite3")


async def test_a_redis_lock_held_long_is_renewed_not_lost(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = (RedisLocks(redis_url, timeout=0.3, prefix=prefix) for _ in range(2))
    order: list[str] = []

    async def long_turn() -> None:
        async with first.hold("tg:1"):
            order.append("long in")
            await asyncio.sleep(1.0)  # three times the timeout: renewed meanwhile
            order.append("long out")

    async def next_turn() -> None:
        await asyncio.sleep(0.1)
        async with second.hold("tg:1"):
            order.append("next")

    try:
        await asyncio.gather(long_turn(), next_turn())
    finally:
        await first.close()
        await second.close()
    assert order == ["long in", "long out", "next"]
