"""Person locks shared by several processes: one person's updates are handled one at a time
even when two bot processes (or a webhook process and a worker) receive them.

Same interface as PersonLocks (`async with locks.hold(key)`), chosen by
configuration (`build_locks`, LOCK_BACKEND):
- memory: PersonLocks, one process (the embedded default);
- redis: a redis-py Lock per key (the pattern of aiogram's RedisEventIsolation) with a short
  time-to-live (`timeout`, 5 s) that a watchdog task renews while the lock is held: a live holder
  keeps its lock however long its turn takes, a process that died stops renewing and its locks
  expire within that (aiogram's 60 s would leave that person unanswered for a minute);
- postgres: a session advisory lock (pg_advisory_lock) on a dedicated connection; a process that
  dies loses its connection, and PostgreSQL releases the lock at once. A host that vanishes
  without closing its connections is found by TCP keepalives within about `keepalive` x 2
  seconds, and a waiter whose process died stops waiting (client_connection_check_interval).
Both shared kinds first take the in-process lock, so that tasks of one process queue in order
locally and only one of them waits on the server per key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol


log = logging.getLogger(__name__)
BACKENDS = ("memory", "redis", "postgres")



class PersonLocks:
    """One person's messages are handled one after another (in-process; a shared lock for
    several processes plugs in with the same `hold` interface)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            # Pruned when nobody waits, so the dict does not grow with every person ever seen.
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

class Locks(Protocol):
    def hold(self, key: str) -> Any: ...

    async def close(self) -> None: ...


class RedisLocks:
    """Locks in Redis. `timeout` (the keys' time-to-live) bounds how long a dead holder blocks a
    person; a live holder's watchdog renews its lock every timeout/5, so four renewals in a row may be late (a busy event
    loop, a slow Redis) before the lock could expire under it."""

    def __init__(self, url: str, timeout: float = 5.0, prefix: str = "sijunjung:lock:",
                 poll_interval: float = 0.005) -> None:
        from redis.asyncio import Redis

        if timeout <= 0:
            raise ValueError("a Redis lock's timeout must be positive")
        self._redis = Redis.from_url(url)
        self._local = PersonLocks()
        self._timeout, self._prefix, self._poll = timeout, prefix, poll_interval

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        from redis.exceptions import LockError

        async with self._local.hold(key):
            lock = self._redis.lock(self._prefix + key, timeout=self._timeout, sleep=self._poll)
            await lock.acquire()
            # A live holder may wait long (a 429's retry_after while sending its replies):
            # keep its lock from expiring under it; only a dead holder's lock expires.
            watchdog = asyncio.create_task(self._renew(lock, key))
            try:
                yield
            finally:
                watchdog.cancel()
                await asyncio.gather(watchdog, return_exceptions=True)
                try:
                    await lock.release()
                except LockError:
                    # Expired while held (renewals failed): someone else may have it by now.
                    log.warning("the Redis lock of %s had expired before it was released", key)

    async def _renew(self, lock: Any, key: str) -> None:
        from redis.exceptions import LockNotOwnedError, RedisError

        while True:
            await asyncio.sleep(self._timeout / 5)
            try:
                await lock.reacquire()
            except LockNotOwnedError:
                log.error("the Redis lock of %s expired while held: renewals came too late", key)
                return
            except RedisError as problem:  # a blip: the next renewal may still be in time
                log.warning("renewing the Redis lock of %s failed: %s", key, type(problem).__name__)

    async def close(self) -> None:
        await self._redis.aclose()


def advisory_key(key: str) -> int:
    """A stable signed 64-bit number for a lock name (pg_advisory_lock takes a bigint)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


class PostgresLocks:
    """Session-level advisory locks, each held on its own pooled connection for the duration of
    `hold` (asyncpg's pool also runs pg_advisory_unlock_all when a connection is returned)."""

    def __init__(self, url: str, max_connections: int = 20, keepalive: int = 5) -> None:
        self._url = _asyncpg_dsn(url)
        self._max = max_connections
        self._settings = {
            # A vanished host: its connections (and locks) go after idle + interval x count seconds.
            "tcp_keepalives_idle": str(keepalive), "tcp_keepalives_interval": "1", "tcp_keepalives_count": str(keepalive),
            # A waiter in pg_advisory_lock whose process died stops waiting within a second.
            "client_connection_check_interval": "1000",
        }
        self._pool: Any = None
        self._local = PersonLocks()

    async def _connections(self) -> Any:
        if self._pool is None:
            import asyncpg

            self._pool = await asyncpg.create_pool(self._url, min_size=1, max_size=self._max,
                                                   server_settings=self._settings)
        return self._pool

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        number = advisory_key(key)
        async with self._local.hold(key):
            pool = await self._connections()
            async with pool.acquire() as connection:
                await connection.execute("SELECT pg_advisory_lock($1)", number)
                # Released by giving the connection back: the pool's reset runs
                # pg_advisory_unlock_all (a reset that fails closes the connection, which releases
                # it too), so an explicit pg_advisory_unlock would be a third round trip per turn.
                yield

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()


class MemoryLocks(PersonLocks):
    """PersonLocks with the `close` the shared kinds have."""

    async def close(self) -> None:
        return None


def _asyncpg_dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError("LOCK_BACKEND=postgres needs a PostgreSQL DATABASE_URL")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def build_locks(backend: str, redis_url: str = "", database_url: str = "") -> Locks:
    """The locks for LOCK_BACKEND; unset means redis when REDIS_URL is set, else memory."""
    backend = (backend or ("redis" if redis_url else "memory")).lower()
    if backend not in BACKENDS:
        raise ValueError(f"LOCK_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "redis":
        if not redis_url:
            raise ValueError("LOCK_BACKEND=redis needs REDIS_URL")
        return RedisLocks(redis_url)
    if backend == "postgres":
        return PostgresLocks(database_url)
    return MemoryLocks()
