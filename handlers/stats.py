"""Use-case: statistics for officials: registrations per kecamatan, nagari, category and status,
and progress against the regency's target (config.yaml `regency`: 30,000 of 48,838 vulnerable
workers in 2023). Sent as a short text and a chart image.

Counting is done by the database (GROUP BY), so it stays quick at a province-sized load; the
chart is drawn with matplotlib's Agg backend (no display on a server).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from conversations.officials import StatsView
from handlers.clock import LOCAL_TZ
from handlers.quota import COUNTED
from handlers.services import Services
from storage.models import Nagari, Registration

# Nagari listed by name in the text (the chart and the export carry the rest): Telegram allows
# 4096 characters per message.
TOP_NAGARI = 10


async def gather(svc: Services, session: AsyncSession, nagari_codes: set[str] | None, scope: str) -> StatsView:
    """One GROUP BY per dimension: each returns a handful of rows, whatever the table's size."""

    def counted(*columns: Any, join: bool = False) -> Select[Any]:
        query = select(*columns, func.count()).select_from(Registration)
        if join:
            query = query.join(Nagari, Nagari.code == Registration.nagari_code)
        if nagari_codes is not None:
            query = query.where(Registration.nagari_code.in_(sorted(nagari_codes)))
        return query.group_by(*columns)

    async def pairs(query: Select[Any]) -> list[tuple[Any, int]]:
        return [(key, int(count)) for key, count in (await session.execute(query)).all()]

    by_status = dict(await pairs(counted(Registration.status)))
    by_category: dict[str, int] = {}
    for category_id, count in await pairs(counted(Registration.category)):
        category = svc.rules.category(category_id)
        by_category[category.title("id") if category else category_id] = count
    by_kecamatan = dict(await pairs(counted(Nagari.kecamatan, join=True)))
    top = (select(Nagari.name, func.count().label("n")).select_from(Registration)
           .join(Nagari, Nagari.code == Registration.nagari_code)
           .group_by(Nagari.code, Nagari.name).order_by(func.count().desc(), Nagari.name).limit(TOP_NAGARI))
    if nagari_codes is not None:
        top = top.where(Registration.nagari_code.in_(sorted(nagari_codes)))
    regency = svc.config.regency
    return StatsView(scope=scope, total=sum(by_status.values()), by_status=by_status, by_kecamatan=by_kecamatan,
                     by_category=by_category, by_nagari_top=await pairs(top),
                     covered=sum(by_status.get(s, 0) for s in COUNTED), target=regency.target_workers,
                     vulnerable=regency.vulnerable_workers)


def draw_chart(view: StatsView, folder: Path, stamp: str) -> Path:
    """Registrations per kecamatan, stacked by status, and a progress bar against the target."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / f"stats-{stamp}-{secrets.token_hex(4)}.png"
    figure, (bars, progress) = plt.subplots(2, 1, figsize=(8, 6), height_ratios=(4, 1))
    try:
        names = sorted(view.by_kecamatan) or ["-"]
        bars.barh(names, [view.by_kecamatan.get(n, 0) for n in names], color="#2e7d32")
        bars.set_title(f"Pendaftar per kecamatan ({view.scope})")
        bars.set_xlabel("pendaftar")
        progress.barh(["target"], [view.target], color="#e0e0e0")
        progress.barh(["target"], [view.covered], color="#1565c0")
        progress.set_title(f"Disetujui/terdaftar {view.covered:,} dari target {view.target:,}".replace(",", "."))
        figure.tight_layout()
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
    return path


async def statistics(svc: Services, session: AsyncSession, nagari_codes: set[str] | None,
                     scope: str) -> tuple[StatsView, Path]:
    view = await gather(svc, session, nagari_codes, scope)
    stamp = svc.clock.now().astimezone(LOCAL_TZ).strftime("%Y%m%d-%H%M%S")
    return view, draw_chart(view, svc.config.resolve(svc.config.officials.chart_dir), stamp)
