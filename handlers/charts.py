"""The officials' charts, drawn for a phone screen (1080 px wide, large type), each dated and
readable without the message: every bar carries its number.

- quota fill: every nagari's approved workers against its quota, sorted, with the number;
- kecamatan: registrations per kecamatan stacked by status, every kecamatan (zeros too);
- trend: weekly submissions and approvals, and the running total against the target line.

matplotlib with the Agg backend (no display on a server); one figure at a time, closed after
saving. Texts come from the catalogs in the official's language (`Say`).

matplotlib is imported by the first chart drawn (`_pyplot`), not with this module: the server
imports this module at start, and a process that never draws a chart (most of them: a worker, a
webhook process between two /statistik) does not pay its import time and memory (docs/deploy.md,
"Cost").
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conversations.officials import Say
from conversations.reports import COVERED, STATUS_ORDER, NagariLine, Trend, day, number, percent

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _pyplot() -> Any:
    """matplotlib's pyplot on the Agg backend, imported on first use (then it is cached)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot

WIDTH_INCHES, DPI = 7.2, 150  # 1080 px
# Colours that keep their meaning for colour-blind readers too (Okabe-Ito): green is done,
# blue approved, orange waiting, yellow to do, red refused, grey gone.
STATUS_COLOURS = {"enrolled": "#009E73", "approved": "#56B4E9", "waiting": "#E69F00", "pending": "#F0E442",
                  "correction": "#CC79A7", "rejected": "#D55E00", "withdrawn": "#999999",
                  "deletion_requested": "#BBBBBB"}
FILL_COLOURS = ((1.0, "#009E73"), (0.5, "#56B4E9"), (0.0001, "#E69F00"), (0.0, "#D55E00"))
# A phone shows about this many bars legibly; beyond it the chart shows the least filled.
MAX_BARS = 70
# A regency has a handful of kecamatan (Sijunjung: 8); a province shows its largest.
MAX_KECAMATAN = 30



def _clean(*axes: Any) -> None:
    """No box on top and right: less ink, the bars and numbers stand out."""
    for axis in axes:
        axis.spines[["top", "right"]].set_visible(False)
        axis.tick_params(labelsize=11)


def _dotted(value: float, _position: int = 0) -> str:
    return number(value)


def _save(figure: Figure, path: Path) -> Path:
    # Margins are fixed in inches (`_margins`), so one draw suffices: no tight layout or tight
    # bounding box, each of which would draw the whole figure once more.
    try:
        figure.savefig(path, dpi=DPI)
    finally:
        _pyplot().close(figure)
    return path


def _margins(figure: Figure, top: float, bottom: float, left: float = 0.3, right: float = 0.97,
             hspace: float | None = None) -> None:
    """Space above and below the plots, in inches, whatever the figure's height."""
    height = figure.get_figheight()
    figure.subplots_adjust(top=1 - top / height, bottom=bottom / height, left=left, right=right, hspace=hspace)


def _heading(figure: Figure, title: str, subtitle: str) -> None:
    """Title and date line at the top of the image."""
    from matplotlib.transforms import offset_copy

    for text, points, size, weight, colour in ((title, -26, 15, "bold", "#000000"),
                                               (subtitle, -46, 11, "normal", "#444444")):
        figure.text(0.02, 1.0, text, ha="left", va="baseline", fontsize=size, fontweight=weight, color=colour,
                    transform=offset_copy(figure.transFigure, fig=figure, y=points, units="points"))


def _notes(figure: Figure, lines: list[str]) -> None:
    from matplotlib.transforms import offset_copy

    figure.text(0.02, 0.0, "\n".join(lines), ha="left", va="bottom", fontsize=9.5, color="#444444",
                transform=offset_copy(figure.transFigure, fig=figure, y=8, units="points"))


def draw_quota_fill(say: Say, lines: tuple[NagariLine, ...] | list[NagariLine], year: int, today_text: str,
                    path: Path) -> Path:
    """Every nagari's quota use, most filled on top, with "used/quota" at each bar."""
    ordered = sorted(lines, key=lambda n: (-n.fill, -n.used, n.name))
    shown = ordered if len(ordered) <= MAX_BARS else sorted(ordered, key=lambda n: (n.fill, n.name))[:MAX_BARS][::-1]
    height = max(3.0, 2.1 + 0.27 * len(shown))
    figure, axis = _pyplot().subplots(figsize=(WIDTH_INCHES, height))
    names = [f"{n.name}{'' if n.has_operator else ' *'}" for n in shown][::-1]
    fills = [min(n.fill, 1.0) * 100 for n in shown][::-1]
    colours = [next(c for limit, c in FILL_COLOURS if n.fill >= limit) for n in shown][::-1]
    axis.barh(range(len(shown)), [100] * len(shown), color="#EEEEEE", height=0.75)
    axis.barh(range(len(shown)), fills, color=colours, height=0.75)
    for index, line in enumerate(shown[::-1]):
        empty = line.used == 0
        axis.text(101, index, f"{number(line.used)}/{number(line.limit)}", va="center", fontsize=10,
                  color="#D55E00" if empty else "#000000", fontweight="bold" if empty else "normal")
    axis.set_yticks(range(len(shown)), names, fontsize=10)
    axis.set_xlim(0, 118)
    axis.set_ylim(-0.6, len(shown) - 0.4)
    axis.set_xticks([0, 25, 50, 75, 100], ["0%", "25%", "50%", "75%", "100%"])
    _clean(axis)
    axis.tick_params(axis="y", length=0, labelsize=10)
    axis.xaxis.tick_top()
    used, places = sum(n.used for n in lines), sum(n.limit for n in lines)
    _heading(figure, say.t("report.chart.quota.title", year=year),
             say.t("report.chart.quota.subtitle", date=today_text, used=number(used), places=number(places),
                   fill=percent(used, places)))
    notes = [say.t("report.chart.quota.note"), say.t("report.chart.quota.colours")]
    if any(not n.has_operator for n in shown):
        notes.append(say.t("report.chart.quota.no_operator"))
    if len(shown) < len(lines):
        notes.append(say.t("report.chart.quota.cut", shown=number(len(shown)), total=number(len(lines))))
    _notes(figure, notes)
    # The heading, then the percentages above the bars; the notes below.
    _margins(figure, top=1.25, bottom=0.25 + 0.19 * len(notes))
    return _save(figure, path)


def draw_kecamatan(say: Say, by_kecamatan: dict[str, dict[str, int]], today_text: str, path: Path) -> Path:
    """Registrations per kecamatan stacked by status, the largest on top, totals at the bars."""
    from matplotlib.ticker import FuncFormatter

    ranked = sorted(by_kecamatan, key=lambda k: (-sum(by_kecamatan[k].values()), k))
    names = ranked[:MAX_KECAMATAN][::-1]
    present = [s for s in STATUS_ORDER if any(by_kecamatan[k].get(s) for k in names)] or ["pending"]
    figure, axis = _pyplot().subplots(figsize=(WIDTH_INCHES, max(4.0, 2.6 + 0.55 * len(names))))
    left = [0] * len(names)
    for status in present:
        values = [by_kecamatan[k].get(status, 0) for k in names]
        axis.barh(range(len(names)), values, left=left, color=STATUS_COLOURS[status], height=0.7,
                  label=say.t(f"report.value.status.{status}"), edgecolor="white", linewidth=0.5)
        left = [a + b for a, b in zip(left, values)]
    top = max(left) if left and max(left) else 1
    for index, name in enumerate(names):
        counts = by_kecamatan[name]
        total = sum(counts.values())
        covered = sum(counts.get(s, 0) for s in COVERED)
        axis.text(left[index] + top * 0.015, index,
                  say.t("report.chart.kecamatan.bar", total=number(total), covered=number(covered)),
                  va="center", fontsize=10)
    _clean(axis)
    axis.set_yticks(range(len(names)), names)
    axis.set_xlim(0, top * 1.35)
    axis.xaxis.set_major_formatter(FuncFormatter(_dotted))
    axis.tick_params(axis="y", length=0)
    axis.set_xlabel(say.t("report.chart.kecamatan.axis"))
    axis.legend(loc="lower left", bbox_to_anchor=(-0.3, 1.0), ncol=3, frameon=False, fontsize=10)
    total = sum(sum(c.values()) for c in by_kecamatan.values())
    _heading(figure, say.t("report.chart.kecamatan.title"),
             say.t("report.chart.kecamatan.subtitle", date=today_text, total=number(total)))
    cut = len(ranked) > len(names)
    if cut:
        _notes(figure, [say.t("report.chart.kecamatan.cut", shown=number(len(names)), total=number(len(ranked)))])
    _margins(figure, top=1.55, bottom=0.65 + (0.25 if cut else 0), left=0.24)
    return _save(figure, path)


def draw_trend(say: Say, trend: Trend, scope: str, target_label: str, today: date, path: Path) -> Path:
    """Above: the running total of approved this budget year against the target line, and the
    weekly pace still needed by 31 December. Below: each week's submissions and approvals side
    by side (the current, unfinished week lighter)."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    figure, (total_axis, week_axis) = _pyplot().subplots(2, 1, figsize=(WIDTH_INCHES, 9.4), height_ratios=(1.15, 1))
    _clean(total_axis, week_axis)
    weeks = trend.weeks
    labels = [w.start.strftime("%d-%m") for w in weeks]
    if labels:
        labels[-1] = say.t("report.chart.trend.this_week", start=labels[-1])
    positions = list(range(len(weeks)))
    covered = [w.covered for w in weeks]
    total_axis.plot(positions, covered, color="#0072B2", marker="o", linewidth=2.5)
    total_axis.axhline(trend.target, color="#D55E00", linestyle="--", linewidth=2)
    total_axis.annotate(target_label, (0, trend.target), textcoords="offset points", xytext=(0, 5), va="bottom",
                        ha="left", color="#D55E00", fontsize=11, fontweight="bold")
    if covered:
        total_axis.annotate(f"{number(covered[-1])} ({percent(covered[-1], trend.target)})",
                            (positions[-1], covered[-1]), textcoords="offset points", xytext=(-4, 8),
                            ha="right", fontsize=11, fontweight="bold", color="#0072B2")
    left = trend.target - (covered[-1] if covered else 0)
    year_end = date(today.year, 12, 31)
    weeks_left = max((year_end - today).days / 7, 1)
    pace = (say.t("report.chart.trend.pace", needed=number(-(-left // weeks_left)), end=day(year_end))
            if left > 0 else say.t("report.chart.trend.reached"))
    total_axis.text(0.5, 0.5, pace, transform=total_axis.transAxes, ha="center", va="center", fontsize=11,
                    color="#333333", bbox={"boxstyle": "round", "facecolor": "#F4F4F4", "edgecolor": "#CCCCCC"})
    total_axis.set_ylim(0, max(trend.target, max(covered, default=0)) * 1.2 or 1)
    total_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    total_axis.yaxis.set_major_formatter(FuncFormatter(_dotted))
    total_axis.set_xticks(positions, labels, rotation=45, ha="right", fontsize=9)
    total_axis.set_title(say.t("report.chart.trend.total_title"), loc="left", fontsize=12, fontweight="bold")
    total_axis.grid(axis="y", color="#DDDDDD")
    width = 0.4
    submitted = [w.submitted for w in weeks]
    approved = [w.approved for w in weeks]
    current = [1.0] * (len(weeks) - 1) + [0.45] if weeks else []
    for offset, values, colour, key in ((-width / 2, submitted, "#999999", "report.chart.trend.submitted"),
                                        (width / 2, approved, "#009E73", "report.chart.trend.approved")):
        bars = week_axis.bar([p + offset for p in positions], values, width, color=colour, label=say.t(key))
        for bar, alpha in zip(bars, current):
            bar.set_alpha(alpha)
        for position, value in zip(positions, values):
            if value:
                week_axis.text(position + offset, value, number(value), ha="center", va="bottom", fontsize=8.5)
    week_axis.set_ylim(0, max(submitted + approved + [1]) * 1.2)
    week_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    week_axis.yaxis.set_major_formatter(FuncFormatter(_dotted))
    week_axis.set_xticks(positions, labels, rotation=45, ha="right", fontsize=9)
    week_axis.set_title(say.t("report.chart.trend.week_title"), loc="left", fontsize=12, fontweight="bold")
    week_axis.legend(loc="upper left", frameon=False, fontsize=10)
    week_axis.set_xlabel(say.t("report.chart.trend.axis"))
    _heading(figure, say.t("report.chart.trend.title", scope=scope),
             say.t("report.chart.trend.subtitle", date=day(today),
                   first=day(weeks[0].start) if weeks else day(today)))
    _margins(figure, top=1.15, bottom=1.45, left=0.12, hspace=0.62)
    return _save(figure, path)
