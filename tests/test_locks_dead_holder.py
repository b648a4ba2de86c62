"""A person lock held by a process that dies (SIGKILL: no clean-up at all) is free again within
seconds, so that person's next message is not held up for a minute.

The holder is a real subprocess taking the lock with the production defaults; this test process
watches the lock on the real Redis and PostgreSQL servers."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
import uuid

import asyncpg
import pytest

from bot.config import PROJECT_ROOT
from handlers.locks import PostgresLocks, RedisLocks, advisory_key

HOLDER = """
import asyncio, sys
from handlers.locks import PostgresLocks, RedisLocks

async def main(kind, url, key, prefix):
    locks = RedisLocks(url, prefix=prefix) if kind == "redis" else PostgresLocks(url)
    async with locks.hold(key):
        print("held", flush=True)
        await asyncio.sleep(3600)

asyncio.run(main(*sys.argv[1:]))
"""


async def start_holder(kind: str, url: str, key: str, prefix: str) -> asyncio.subprocess.Process:
    holder = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER, kind, url, key, prefix,
                                                  cwd=PROJECT_ROOT, stdout=asyncio.subprocess.PIPE)
    assert holder.stdout is not None
    line = await asyncio.wait_for(holder.stdout.readline(), 60)
    assert line.strip() == b"held", line
    return holder


async def seconds_until_free(is_free, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not await is_free():
        assert time.monotonic() - start < timeout, "the dead holder's lock was never released"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def test_a_redis_lock_of_a_killed_process_expires_within_seconds(redis_url: str) -> None:
    from redis.asyncio import Redis

    prefix, key = f"test:{uuid.uuid4().hex}:", "tg:700000001"
    redis = Redis.from_url(redis_url)
    holder = await start_holder("redis", redis_url, key, prefix)
    try:
        # Alive past its first renewals: still held.
        await asyncio.sleep(2.0)
        assert await redis.exists(prefix + key)
        holder.send_signal(signal.SIGKILL)
        await holder.wait()

        async def free() -> bool:
            return not await redis.exists(prefix + key)

        waited = await seconds_until_free(free)
        print(f"lock free {waited:.2f} s after the holder was killed")
        assert waited <= 6.0, f"free only after {waited:.1f} s"
        locks = RedisLocks(redis_url, prefix=prefix)
        try:
            async with asyncio.timeout(2):
                async with locks.hold(key):
                    pass
        finally:
            await locks.close()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await redis.aclose()


async def test_a_postgres_advisory_lock_of_a_killed_process_goes_with_its_connection(postgres_url: str) -> None:
    key = "tg:700000001"
    watcher = await asyncpg.connect(postgres_url)
    holder = await start_holder("postgres", postgres_url, key, "")
    try:
        # pg_try_advisory_lock takes it when free: release at once, it only looks.
        async def free() -> bool:
            taken = await watcher.fetchval("SELECT pg_try_advisory_lock($1)", advisory_key(key))
            if taken:
                await watcher.execute("SELECT pg_advisory_unlock($1)", advisory_key(key))
            return bool(taken)

        await asyncio.sleep(1.0)
        assert not await free()
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        waited = await seconds_until_free(free)
        print(f"lock free {waited:.2f} s after the holder was killed")
        assert waited <= 2.0, f"free only after {waited:.1f} s"
        locks = PostgresLocks(postgres_url)
        try:
            async with asyncio.timeout(2):
                async with locks.hold(key):
                    pass
        finally:
            await locks.close()
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await watcher.close()


def test_a_redis_lock_needs_a_positive_timeout() -> None:
    with pytest.raises(ValueError):
        RedisLocks("redis://127.0.0.1:6379/0", timeout=0)
