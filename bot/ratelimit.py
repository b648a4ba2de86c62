"""Rate limits of the platforms' senders (docs/domain.md, "Platform limits"), shared by the Telegram
and WhatsApp senders.

`PriorityGate`: a sender's overall throughput (Telegram about 30 messages/s; a WhatsApp number
80/s by default, up to 1,000), shared by every send; when sends queue up, replies to people who
are waiting go before bulk sends.
`PairLimiter`: the per-person pace (Telegram about 1/s per chat; WhatsApp at most one message per
6 s to the same person after a burst, error 131056).
Both measure real elapsed time (time.monotonic): they pace requests to Meta's servers, which
count in real seconds; decisions about the conversation use the injected clock instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass

Now = Callable[[], float]


@dataclass
class Bucket:
    """A token bucket: `capacity` tokens, refilled at `rate` per second."""

    capacity: float
    rate: float
    tokens: float
    stamp: float
    blocked_until: float = 0.0

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_time(self, now: float) -> float:
        """Seconds until a token can be taken (0: now)."""
        self.refill(now)
        if now < self.blocked_until:
            return self.blocked_until - now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self, now: float) -> bool:
        if self.wait_time(now) > 0:
            return False
        self.tokens -= 1
        return True


class PriorityGate:
    """Lets sends through at the number's throughput; waiting sends leave in priority order
    (lower number first, then first come)."""

    BURST_SHARE = 0.05

    def __init__(self, per_second: float, now: Now = time.monotonic) -> None:
        self._now = now
        # A small burst only: with the sender's headroom (delivery.rate_headroom) no window of
        # one second ever holds more than the platform's limit (the platforms count per second).
        burst = max(1.0, per_second * self.BURST_SHARE)
        self._bucket = Bucket(capacity=burst, rate=per_second, tokens=burst, stamp=now())
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._pump: asyncio.Task[None] | None = None

    async def acquire(self, priority: int) -> None:
        if not self._waiters and self._bucket.take(self._now()):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._release())
        await future

    def pause(self, seconds: float) -> None:
        """130429 (throughput exceeded): nobody sends until the back-off has passed."""
        self._bucket.blocked_until = max(self._bucket.blocked_until, self._now() + seconds)

    async def _release(self) -> None:
        while self._waiters:
            future = self._waiters[0][2]
            if future.done():  # the sender gave up waiting (cancelled)
                heapq.heappop(self._waiters)
            elif self._bucket.take(self._now()):
                heapq.heappop(self._waiters)
                future.set_result(None)
            else:
                await asyncio.sleep(self._bucket.wait_time(self._now()))


class PairLimiter:
    """One bucket per recipient: `burst` messages at once, then one per `interval` seconds."""

    # Buckets that have refilled completely carry no information: dropped past this many people.
    PRUNE_ABOVE = 5000

    def __init__(self, interval: float, burst: int, now: Now = time.monotonic) -> None:
        self._interval, self._burst, self._now = interval, burst, now
        self._buckets: dict[str, Bucket] = {}

    def _bucket(self, recipient: str) -> Bucket:
        bucket = self._buckets.get(recipient)
        if bucket is None:
            if len(self._buckets) > self.PRUNE_ABOVE:
                self._prune()
            bucket = self._buckets[recipient] = Bucket(self._burst, 1 / self._interval, self._burst, self._now())
        return bucket

    def _prune(self) -> None:
        now = self._now()
        for recipient in [r for r, b in self._buckets.items() if b.wait_time(now) == 0 and b.tokens >= b.capacity]:
            del self._buckets[recipient]

    async def acquire(self, recipient: str) -> None:
        bucket = self._bucket(recipient)
        while not bucket.take(self._now()):
            await asyncio.sleep(bucket.wait_time(self._now()))

    def penalise(self, recipient: str, seconds: float) -> None:
        """131056 (pair rate exceeded): Meta counts differently from us; start over empty."""
        bucket = self._bucket(recipient)
        bucket.tokens = 0
        bucket.blocked_until = self._now() + seconds
