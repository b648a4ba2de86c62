"""The one retry policy: the waits every retried call uses, and when it stops."""

from __future__ import annotations

import random
import subprocess

import pytest

from bot.config import PROJECT_ROOT
from handlers.retry import RetryPolicy


def test_waits_grow_by_the_factor_up_to_the_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert RetryPolicy(base=1.0, factor=3.0).delay(3) == 9.0


def test_hours_of_failures_stay_at_the_cap_instead_of_overflowing() -> None:
    assert RetryPolicy(base=0.5, cap=8.0).delay(100_000) == 8.0


def test_max_attempts_counts_the_first_try() -> None:
    policy = RetryPolicy(base=30, cap=3600, max_attempts=6)
    assert list(policy.attempts()) == [1, 2, 3, 4, 5, 6]
    assert [policy.gives_up(n) for n in (1, 5, 6, 7)] == [False, False, True, True]
    assert not RetryPolicy(base=1).gives_up(10_000)
    with pytest.raises(ValueError):
        RetryPolicy(base=1).attempts()


def test_jitter_spreads_waits_below_the_plain_delay() -> None:
    policy = RetryPolicy(base=2.0, jitter=0.5, rng=random.Random(4))
    waits = [policy.delay(2) for _ in range(200)]
    assert all(2.0 <= wait <= 4.0 for wait in waits)
    assert max(waits) - min(waits) > 1.0  # spread, not one value


@pytest.mark.parametrize("values", [{"base": 0}, {"base": 1, "factor": 0.5}, {"base": 1, "jitter": 2},
                                    {"base": 1, "max_attempts": 0}])
def test_nonsense_is_refused(values: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**values)  # type: ignore[arg-type]


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(base=1).delay(0)


def test_no_hand_written_exponential_back_off_is_left() -> None:
    """Doubling loops come back easily: the program's code has none outside handlers/retry.py."""
    found = subprocess.run(
        ["grep", "-rnE", r"\*\* *\(?attempt|(backoff|delay) \* 2\b|2 \*\* ", "bot", "handlers", "storage",
         "conversations", "--include=*.py"], cwd=PROJECT_ROOT, capture_output=True, text=True).stdout
    assert [line for line in found.splitlines() if not line.startswith("handlers/retry.py")] == []
