"""What the bot counts for monitoring, where it happens: updates received, handled and set aside
per channel (handlers/ingest.py), how long a turn takes (handlers/turn.py), and sends by result
per channel (handlers/outbox.py; the platforms' 429s in the channels' senders).

The counters live in a registry of this module (`REGISTRY`, never prometheus-client's global
default one: nothing another library registers leaks into /metrics, and tests can read ours).
bot/metrics.py serves them at /metrics beside the gauges computed when Prometheus scrapes (the
outbox's depth, open tickets, registrations by status: `gauges`). Handlers call the functions
below and never import bot/. Without prometheus-client installed every call does nothing.

Counting costs a dictionary lookup and a locked addition: the children of each label value are
kept, so a turn does not pay for prometheus-client's label handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

try:
    from prometheus_client import CollectorRegistry, Counter, Histogram
except ImportError:  # pragma: no cover - a pinned dependency; the fallback keeps handlers working
    CollectorRegistry = None  # type: ignore[assignment,misc]

PREFIX = "sijunjung_bot"
# Sends: delivered, delivered as an approved WhatsApp template (outside the 24-hour window),
# not delivered (to be retried, or given up); "429": each time a platform said to slow down.
SEND_RESULTS = ("ok", "template", "failed", "429")
# A turn is a few milliseconds; a slow database or a lock wait shows in the upper buckets.
TURN_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Registration statuses always reported (0 when none), so a dashboard's series do not come and go.
STATUSES = ("pending", "correction", "waiting", "approved", "enrolled", "rejected", "withdrawn", "ended",
            "deletion_requested")


class _Nothing:
    """Stands in for a counter without prometheus-client."""

    def labels(self, *_: str) -> "_Nothing":
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


if CollectorRegistry is not None:
    REGISTRY: Any = CollectorRegistry(auto_describe=True)
    _RECEIVED: Any = Counter(f"{PREFIX}_updates_received", "Platform updates recorded in the inbox (duplicates "
                             "excluded)", ["channel"], registry=REGISTRY)
    _HANDLED: Any = Counter(f"{PREFIX}_updates_handled", "Updates handled (a turn, or nothing to do)", ["channel"],
                            registry=REGISTRY)
    _SET_ASIDE: Any = Counter(f"{PREFIX}_updates_set_aside", "Updates set aside (undecodable, failing, or beyond "
                              "a person's backlog limit): `python -m bot inbox list`", ["channel"], registry=REGISTRY)
    _TURN: Any = Histogram(f"{PREFIX}_turn_seconds", "Time of one turn: read, decide, write, commit (sending "
                           "excluded)", buckets=TURN_BUCKETS, registry=REGISTRY)
    _SENDS: Any = Counter(f"{PREFIX}_sends", "Messages sent, by result: ok, template (an approved WhatsApp "
                          "template), failed, 429 (the platform asked to slow down)", ["channel", "result"],
                          registry=REGISTRY)
else:  # pragma: no cover
    REGISTRY = None
    _RECEIVED = _HANDLED = _SET_ASIDE = _TURN = _SENDS = _Nothing()

_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def _child(counter: Any, *labels: str) -> Any:
    key = (id(counter), labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = counter.labels(*labels)
    return child


def channel_of(channel_user: str) -> str:
    """"tg:123" -> "tg" (a label value from a fixed, small set: never a person's id)."""
    channel = channel_user.split(":", 1)[0]
    return channel if channel in ("tg", "wa") else "other"


def received(channel: str, count: int = 1) -> None:
    if count:
        _child(_RECEIVED, channel).inc(count)


def handled(channel_user: str) -> None:
    _child(_HANDLED, channel_of(channel_user)).inc()


def set_aside(channel_user: str, count: int = 1) -> None:
    if count:
        _child(_SET_ASIDE, channel_of(channel_user)).inc(count)


def turn_took(seconds: float) -> None:
    _TURN.observe(seconds)


def sent(channel_user: str, result: str) -> None:
    """`result`: one of SEND_RESULTS."""
    _child(_SENDS, channel_of(channel_user), result).inc()


# -- computed when scraped ------------------------------------------------------------------------
@dataclass
class Gauges:
    """What a scrape reads from the database: a few set-based queries (counts by state, one
    minimum), cheap whatever the size of the tables."""

    outbox_waiting: int = 0
    outbox_due: int = 0
    outbox_oldest_due_seconds: float | None = None
    tickets_open: int = 0
    registrations: dict[str, int] = field(default_factory=dict)


async def gauges(session: AsyncSession, now: datetime) -> Gauges:
    from handlers.health import outbox_backlog
    from storage.models import Registration
    from storage.tickets import OPEN_STATES, Ticket

    backlog = await outbox_backlog(session, now)
    tickets = (await session.execute(select(func.count()).select_from(Ticket)
                                     .where(Ticket.status.in_(OPEN_STATES)))).scalar_one()
    by_status = dict((await session.execute(select(Registration.status, func.count())
                                            .group_by(Registration.status))).all())
    registrations = dict.fromkeys(STATUSES, 0) | {str(status): int(count) for status, count in by_status.items()}
    return Gauges(backlog["waiting"], backlog["due"], backlog["oldest_due_seconds"], tickets, registrations)
