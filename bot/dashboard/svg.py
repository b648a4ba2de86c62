"""The dashboard's charts: hand-made SVG, drawn on the server, no script.

Horizontal positions and widths are percentages of the chart's width and everything vertical,
text included, is in CSS pixels: the same chart fills a 360-pixel phone and a desktop column
with its text at the same readable size, never scaled down to a smudge (a viewBox would shrink
the text with the picture). Each bar row puts its label on a line of its own above the bar, so
a long nagari or kecamatan name needs no margin. Every chart has a text title for screen
readers, and every page shows the same numbers in a table beside it.

Colours are the officials' charts' (handlers/charts.py, Okabe-Ito: readable for colour-blind
readers): green done, blue approved, orange waiting, yellow to do, red refused, grey gone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from conversations.reports import Week

STATUS_COLOURS = {"enrolled": "#009E73", "approved": "#56B4E9", "waiting": "#E69F00", "pending": "#F0E442",
                  "correction": "#CC79A7", "rejected": "#D55E00", "withdrawn": "#999999",
                  "deletion_requested": "#BBBBBB"}
SUBMITTED_COLOUR, APPROVED_COLOUR, BLUE, TRACK_COLOUR = "#8A8A8A", "#009E73", "#0072B2", "#EEEEEE"
ROW = 36  # px per bar row: a label line and a bar
LABEL_Y, BAR_Y, BAR_HEIGHT = 14, 19, 12
LEGEND_PER_ROW = 2


@dataclass(frozen=True)
class Segment:
    value: float
    colour: str
    name: str = ""


@dataclass(frozen=True)
class Bar:
    label: str
    segments: tuple[Segment, ...]
    note: str  # shown at the right end of the label line (the number)
    scale: float | None = None  # this row's full width (a share of its own whole); None: the chart's largest


def _svg(height: int, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="100%" height="{height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(body)}</svg>')


def _legend(items: Sequence[tuple[str, str]]) -> tuple[list[str], int]:
    """Coloured squares with names, LEGEND_PER_ROW to a line (half a phone's width each);
    returns the parts and the height they take."""
    parts = []
    for index, (name, colour) in enumerate(items):
        x = (index % LEGEND_PER_ROW) * 100 / LEGEND_PER_ROW
        y = 14 + (index // LEGEND_PER_ROW) * 18
        parts.append(f'<rect x="{x:.2f}%" y="{y - 10}" width="10" height="10" fill="{colour}"/>'
                     f'<text class="legend" x="{x:.2f}%" dx="14" y="{y}">{escape(name)}</text>')
    lines = -(-len(items) // LEGEND_PER_ROW)
    return parts, (lines * 18 + 6 if items else 0)


def bars(title: str, rows: Sequence[Bar], legend: Sequence[tuple[str, str]] = ()) -> Markup:
    """Horizontal bars, stacked when a row has several segments."""
    body, top = _legend(legend)
    largest = max((sum(s.value for s in row.segments) for row in rows if row.scale is None), default=0) or 1
    for index, row in enumerate(rows):
        y = top + index * ROW
        whole = row.scale if row.scale is not None else largest
        body.append(f'<text class="label" x="0" y="{y + LABEL_Y}">{escape(row.label)}</text>'
                    f'<text class="value" x="100%" y="{y + LABEL_Y}" text-anchor="end">{escape(row.note)}</text>'
                    f'<rect x="0" y="{y + BAR_Y}" width="100%" height="{BAR_HEIGHT}" fill="{TRACK_COLOUR}"/>')
        left = 0.0
        for segment in row.segments:
            width = 100 * min(segment.value / whole, 1.0) if whole else 0.0
            width = min(width, 100 - left)
            if width > 0:
                name = f"{segment.name}: " if segment.name else ""
                body.append(f'<rect x="{left:.2f}%" y="{y + BAR_Y}" width="{width:.2f}%" height="{BAR_HEIGHT}" '
                            f'fill="{segment.colour}"><title>{escape(name + row.label)}</title></rect>')
            left += width
    return _svg(top + len(rows) * ROW + 4, title, body)


def weekly(title: str, weeks: Sequence[Week], submitted: str, approved: str,
           label: Callable[[Week], str], biggest: Callable[[int], str]) -> Markup:
    """Each week's submissions and approvals side by side, the current week last; week labels
    below (every other one hidden on a phone by the stylesheet)."""
    body, legend_height = _legend([(submitted, SUBMITTED_COLOUR), (approved, APPROVED_COLOUR)])
    plot_top, plot_height = legend_height + 16, 150
    base = plot_top + plot_height
    peak = max([w.submitted for w in weeks] + [w.approved for w in weeks] + [1])
    body.append(f'<text class="axis" x="0" y="{plot_top - 4}">{escape(biggest(peak))}</text>'
                f'<line x1="0" y1="{plot_top}" x2="100%" y2="{plot_top}" class="grid"/>'
                f'<line x1="0" y1="{base}" x2="100%" y2="{base}" class="baseline"/>')
    slot = 100 / max(len(weeks), 1)
    for index, week in enumerate(weeks):
        for offset, value, colour in ((0.12, week.submitted, SUBMITTED_COLOUR), (0.52, week.approved, APPROVED_COLOUR)):
            height = plot_height * value / peak
            if height > 0:
                body.append(f'<rect x="{index * slot + offset * slot:.2f}%" y="{base - height:.1f}" '
                            f'width="{0.36 * slot:.2f}%" height="{height:.1f}" fill="{colour}">'
                            f'<title>{escape(label(week))}: {value}</title></rect>')
        odd = " odd" if (len(weeks) - 1 - index) % 2 else ""
        body.append(f'<text class="tick{odd}" x="{(index + 0.5) * slot:.2f}%" y="{base + 16}" text-anchor="middle">'
                    f'{escape(label(week))}</text>')
    return _svg(base + 24, title, body)
