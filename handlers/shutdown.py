"""Stopping cleanly: SIGTERM (a deploy, `docker stop`, systemd) and SIGINT (Ctrl-C) are not crashes.

On the signal a process stops taking new work at once -- the web server stops accepting
connections, Telegram polling stops -- and gives what is in flight `grace_seconds` (config.yaml
`shutdown:`) to finish: webhook requests get their answer, turns under way commit and send their
replies, the outbox worker finishes its batch (about a second's sending). Whatever is still
running when the grace is over is cancelled and left as a crash would leave it, only tidier:
recorded updates are handled at the next start, and the worker's claimed messages are put back
in the queue at once instead of after their lease. Then the process exits with status 0.

The supervisor must wait longer than the grace before it kills (`docker stop` waits 10 s by
default: give it `--time 15`, or `stop_grace_period` in compose).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ShutdownRules(BaseModel):
    """config.yaml `shutdown:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    grace_seconds: float = Field(default=10.0, gt=0, le=600)


def shutdown_rules(svc: Any) -> ShutdownRules:
    return getattr(svc.config, "shutdown", None) or ShutdownRules()


class Deadline:
    """The end of the grace period, on the real (monotonic) clock: a shutdown is measured in real
    seconds, like the supervisor that will kill the process after its own timeout."""

    def __init__(self, seconds: float, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._end = now() + seconds

    def left(self) -> float:
        return max(0.0, self._end - self._now())


async def finish_within(task: asyncio.Future[Any], seconds: float) -> bool:
    """Wait up to `seconds` for `task`, then cancel it (and wait for its clean-up). True when
    it finished by itself."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if task in done:
        return True
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return False
