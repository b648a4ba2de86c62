"""Printable posters of a recruitment link: an A4 page with the QR code of the WhatsApp link (and
a smaller one of the Telegram link), the nagari's name, and what the programme gives.

One drawing, written twice: a PDF to print (vector: the QR code's modules are rectangles, sharp
at any size) and a PNG of the same page to send in a chat. The QR code is segno's (pure Python,
error correction M: a printed poster that gets dirty or creased still scans); its quiet zone of
4 modules is kept white. matplotlib's Figure is used directly, without pyplot, so drawing keeps
no global state. Texts come from the catalogs (links.po), in the language of the people the
poster is for.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# segno and matplotlib are imported by the first poster drawn: the server imports this module at
# start, and a process that never draws a poster does not load them (docs/deploy.md, "Cost").
if TYPE_CHECKING:
    from matplotlib.figure import Figure

# A4 portrait, in inches; the PNG at 150 dpi (1240 x 1754 pixels: sharp on a phone, printable).
PAGE = (8.27, 11.69)
PNG_DPI = 150
QUIET_ZONE = 4  # modules of white around a QR code (ISO/IEC 18004)
ERROR_CORRECTION = "m"
BAND = "#1F4E79"
INK = "#1A1A1A"
MUTED = "#444444"


@dataclass(frozen=True)
class PosterText:
    """What a poster says, already in its language."""

    title: str
    tagline: str
    nagari: str
    place: str
    offer: str
    who: str
    scan_whatsapp: str
    scan_telegram: str
    extra: str  # the jorong or the agent ("" for a nagari's own poster)
    number: str  # "or send a WhatsApp message to ... with the code ..." ("" without WhatsApp)


@dataclass(frozen=True)
class QrPlace:
    """Where a QR code is drawn, as fractions of the page measured from its top left corner, and
    its size in modules with the quiet zone: enough to read the modules back from an image."""

    left: float
    top: float
    width: float
    height: float
    modules: int


@dataclass(frozen=True)
class Poster:
    png: Path
    pdf: Path
    # The main QR code (WhatsApp's, else Telegram's) and the second one, if any.
    qr: QrPlace
    second_qr: QrPlace | None = None


def qr_modules(url: str) -> list[list[bool]]:
    """The QR code of `url` as rows of modules (True: dark), the quiet zone included."""
    import segno

    code = segno.make(url, error=ERROR_CORRECTION, micro=False)
    return [[bool(module) for module in row] for row in code.matrix_iter(scale=1, border=QUIET_ZONE)]


def _draw_qr(figure: Figure, url: str, left_in: float, top_in: float, size_in: float) -> QrPlace:
    """Dark modules as rectangles, one per horizontal run (fewer shapes, no seams between
    neighbours), without anti-aliasing so the PNG's modules are solid."""
    from matplotlib.collections import PatchCollection
    from matplotlib.patches import Rectangle

    rows = qr_modules(url)
    count = len(rows)
    width, height = PAGE
    place = QrPlace(left_in / width, top_in / height, size_in / width, size_in / height, count)
    axes = figure.add_axes((place.left, 1 - place.top - place.height, place.width, place.height))
    axes.set_xlim(0, count)
    axes.set_ylim(count, 0)
    axes.set_axis_off()
    axes.add_patch(Rectangle((0, 0), count, count, facecolor="white", edgecolor="none"))
    runs = []
    for y, row in enumerate(rows):
        x = 0
        while x < count:
            if row[x]:
                start = x
                while x < count and row[x]:
                    x += 1
                runs.append(Rectangle((start, y), x - start, 1))
            else:
                x += 1
    axes.add_collection(PatchCollection(runs, facecolor="black", edgecolor="none", antialiased=False))
    return place


def _text(figure: Figure, y_in: float, text: str, size: float, width_chars: int, weight: str = "normal",
          colour: str = INK, x: float = 0.5) -> None:
    """Centred text, wrapped to `width_chars`, its top at `y_in` inches from the page's top."""
    wrapped = "\n".join(textwrap.wrap(text, width_chars)) if width_chars else text
    figure.text(x, 1 - y_in / PAGE[1], wrapped, ha="center", va="top", fontsize=size, fontweight=weight,
                color=colour, linespacing=1.25)


def draw_poster(text: PosterText, whatsapp_url: str | None, telegram_url: str | None, stem: Path) -> Poster:
    """`stem`.pdf and `stem`.png. With both links, WhatsApp's QR code is the large one (most people
    here use WhatsApp) and Telegram's sits beside it; with one, it is large and centred."""
    if not whatsapp_url and not telegram_url:
        raise ValueError("a poster needs at least one link")
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    width, _ = PAGE
    figure = Figure(figsize=PAGE, dpi=PNG_DPI)
    figure.patch.set_facecolor("white")
    band = figure.add_axes((0, 1 - 1.55 / PAGE[1], 1, 1.55 / PAGE[1]))
    band.set_axis_off()
    band.add_patch(Rectangle((0, 0), 1, 1, facecolor=BAND, edgecolor="none", transform=band.transAxes))
    _text(figure, 0.35, text.title, 26, 0, "bold", "white")
    _text(figure, 0.95, text.tagline, 16, 0, "normal", "white")
    _text(figure, 1.9, text.nagari, 38, 24, "bold")
    _text(figure, 2.65, text.place, 16, 60, colour=MUTED)
    _text(figure, 3.15, text.offer, 18, 52, "bold", BAND)
    _text(figure, 4.05, text.who, 13, 70, colour=MUTED)
    qr_top = 4.75
    second: QrPlace | None = None
    if whatsapp_url and telegram_url:
        main_size, second_size = 4.1, 2.3
        main = _draw_qr(figure, whatsapp_url, 0.55, qr_top, main_size)
        second = _draw_qr(figure, telegram_url, width - 0.55 - second_size, qr_top + 0.9, second_size)
        _text(figure, qr_top + main_size + 0.1, text.scan_whatsapp, 14, 34, "bold", x=(0.55 + main_size / 2) / width)
        _text(figure, qr_top + 0.9 + second_size + 0.1, text.scan_telegram, 12, 26,
              x=(width - 0.55 - second_size / 2) / width)
    else:
        main_size = 4.6
        url = whatsapp_url or telegram_url or ""
        main = _draw_qr(figure, url, (width - main_size) / 2, qr_top, main_size)
        _text(figure, qr_top + main_size + 0.1, text.scan_whatsapp if whatsapp_url else text.scan_telegram, 15, 60,
              "bold")
    below = qr_top + main_size + 0.75
    if text.extra:
        _text(figure, below, text.extra, 18, 50, "bold")
        below += 0.55
    if text.number:
        _text(figure, below, text.number, 12, 80, colour=MUTED)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    figure.savefig(png, dpi=PNG_DPI, format="png")
    figure.savefig(pdf, format="pdf")
    return Poster(png, pdf, main, second)
