"""The garbage collector in a long-running process (the server, a worker).

Start-up leaves hundreds of thousands of objects that live as long as the process (modules,
SQLAlchemy's tables and compiled statements, aiogram's and pydantic's models, the catalogs).
CPython's collector walks them again at every collection of the oldest generation and, until
they get there, at those of the middle one. `settle` moves them out of its sight (`gc.freeze`)
once start-up is done, and lets more allocations happen between young collections: a turn
allocates a few thousand short-lived objects, nearly all freed by reference counting.
"""

from __future__ import annotations

import gc

# Allocations (less deallocations) between two collections of the youngest generation (700 by
# default); how many of those between collections of the middle, and of the oldest, generation.
THRESHOLDS = (10_000, 10, 10)


def settle(thresholds: tuple[int, int, int] = THRESHOLDS) -> None:
    """Call once start-up is done: what exists now is treated as permanent."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
