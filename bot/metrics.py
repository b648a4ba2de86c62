"""GET /metrics: the Prometheus text format, on the server that hosts the webhooks (HOST:PORT).

Two parts, one answer:

- the counters the handlers keep as things happen (handlers/metrics.py: updates received,
  handled and set aside per channel, the turn-time histogram, sends by result), and this
  process's own (resident memory, CPU, open files: prometheus-client's process collector), all in
  the project's own registry -- never prometheus-client's global default one;
- gauges read from the database when Prometheus scrapes (the outbox's depth, its due messages
  and the age of the oldest, open help-desk tickets, registrations by status): a few counts by
  state, so a scrape costs the same with ten registrations or ten thousand. Several processes
  share one database: every process reports the same gauges, and counters are per process
  (Prometheus sums them by job).

With METRICS_TOKEN set, a scrape must send `Authorization: Bearer <token>` (401 otherwise); keep
/metrics off the public internet either way, as /healthz (docs/deploy.md, "What to monitor").
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, Gauge, ProcessCollector, generate_latest

from bot.version import version
from handlers import metrics
from handlers.services import Services

TOKEN_VARIABLE = "METRICS_TOKEN"
PREFIX = metrics.PREFIX
# This process's memory, CPU and file descriptors, in the project's registry (once per process).
if metrics.REGISTRY is not None:
    ProcessCollector(registry=metrics.REGISTRY)


def authorised(request: web.Request, token: str) -> bool:
    """No token configured: anyone who reaches the port; else exactly `Bearer <token>`."""
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), token.encode())


async def scrape_gauges(svc: Services) -> bytes:
    """The gauges read now, in a registry of their own for this one answer (the values of an
    earlier scrape, or of another app in the same process, never mix in)."""
    registry = CollectorRegistry(auto_describe=True)
    up = Gauge(f"{PREFIX}_database_up", "1 when the database answered this scrape's queries", registry=registry)
    info = Gauge(f"{PREFIX}_build_info", "The running version (the value is always 1)", ["version"], registry=registry)
    info.labels(version()).set(1)
    try:
        async with svc.db.session() as session:
            values = await metrics.gauges(session, svc.clock.now())
    except Exception:  # noqa: BLE001 - a scrape reports, it does not fail: database_up says it
        up.set(0)
        return generate_latest(registry)
    up.set(1)
    Gauge(f"{PREFIX}_outbox_depth", "Outgoing messages waiting (queued or being sent)",
          registry=registry).set(values.outbox_waiting)
    Gauge(f"{PREFIX}_outbox_due", "Outgoing messages due now and not yet sent", registry=registry).set(values.outbox_due)
    Gauge(f"{PREFIX}_outbox_oldest_due_seconds", "Age of the oldest due outgoing message (0: none due)",
          registry=registry).set(values.outbox_oldest_due_seconds or 0)
    Gauge(f"{PREFIX}_tickets_open", "Help-desk tickets open or taken", registry=registry).set(values.tickets_open)
    registrations = Gauge(f"{PREFIX}_registrations", "Registrations by status", ["status"], registry=registry)
    for status, count in sorted(values.registrations.items()):
        registrations.labels(status).set(count)
    return generate_latest(registry)


def metrics_view(svc: Services, environ: Mapping[str, str]) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The /metrics handler of one app (bot/server.py adds it beside /healthz)."""
    token = (environ.get(TOKEN_VARIABLE) or "").strip()
    # One scrape's queries at a time: two Prometheus servers scraping at once wait in turn.
    one_at_a_time = asyncio.Lock()

    async def view(request: web.Request) -> web.Response:
        if not authorised(request, token):
            return web.Response(status=401, text="unauthorised\n", headers={"WWW-Authenticate": "Bearer"})
        async with one_at_a_time:
            gauges = await scrape_gauges(svc)
        counters = generate_latest(metrics.REGISTRY) if metrics.REGISTRY is not None else b""
        return web.Response(body=counters + gauges, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})

    return view
