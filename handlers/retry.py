"""The one retry policy: how long to wait before trying again after a failure, and when to stop.

Every retried call in the program uses it -- Telegram's polling and start-up calls, the
Telegram and WhatsApp senders, the outbox's re-queueing of a failed message -- each with its own
numbers (from config.yaml), never with a hand-written doubling loop of its own.

Attempts are counted from 1: `delay(1)` is the wait after the first failure (`base`), and each
later wait is `factor` times the one before, up to `cap`. `jitter` spreads the waits of many
clients that failed together (a platform outage) so that they do not come back in step: the
wait is drawn uniformly from [delay x (1 - jitter), delay].
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    base: float
    factor: float = 2.0
    cap: float = math.inf
    jitter: float = 0.0
    # Attempts in all, the first included; None: retry for as long as the caller runs.
    max_attempts: int | None = None
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.base <= 0 or self.factor < 1 or self.cap <= 0:
            raise ValueError(f"retry policy: need base > 0, factor >= 1 and cap > 0, not {self}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"retry policy: jitter must be between 0 and 1, not {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"retry policy: max_attempts must be at least 1, not {self.max_attempts}")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1 = the first try)."""
        if attempt < 1:
            raise ValueError(f"attempts count from 1, not {attempt}")
        try:
            wait = min(self.base * self.factor ** (attempt - 1), self.cap)
        except OverflowError:  # hours of failures in a row: long past the cap
            wait = self.cap
        if self.jitter:
            wait *= 1 - self.jitter * self.rng.random()
        return wait

    def gives_up(self, attempt: int) -> bool:
        """True when attempt number `attempt` was the last one allowed."""
        return self.max_attempts is not None and attempt >= self.max_attempts

    def attempts(self) -> range:
        """1, 2, ... max_attempts (for `for attempt in policy.attempts()` loops; bounded policies only)."""
        if self.max_attempts is None:
            raise ValueError("an unbounded retry policy has no last attempt")
        return range(1, self.max_attempts + 1)
