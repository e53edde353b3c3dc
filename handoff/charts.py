"""Charts as inline SVG, drawn on the server: no script, no inline style (the inbox's CSP allows neither), no
library, nothing fetched. Colours are SVG presentation attributes and CSS classes from static/analytics.css.
Every text is escaped; each chart carries a <title> and the numbers also appear in the page's tables."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 16, 40
COLOURS = ("#0b5e4f", "#d9822b", "#3867d6", "#b33939")


NICE = ((1, 5), (2, 4), (2.5, 5), (4, 4), (5, 5), (10, 5))  # (axis top / 10^n, grid intervals)


def _axis(values: Sequence[float | None]) -> tuple[float, int]:
    """A round top for the axis at or above the largest value, and how many grid intervals: whole counts up
    to 5 get one line per unit, rates and larger counts 1, 2, 2.5, 4 or 5 x 10^n."""
    present = [v for v in values if v is not None]
    top = max(present, default=0.0)
    if top <= 0:
        return 1.0, 1
    if top <= 5 and all(float(v).is_integer() for v in present):
        return float(math.ceil(top)), math.ceil(top)
    scale = 10.0 ** math.floor(math.log10(top))
    for multiple, intervals in NICE:
        if multiple * scale >= top - 1e-9:
            return multiple * scale, intervals
    return 10 * scale, 5


def _fmt(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _frame(title: str, axis: tuple[float, int], labels: Sequence[str], percent: bool,
           max_labels: int = 12) -> list[str]:
    """The SVG's opening, title, horizontal grid with its values and every n-th label on the x axis."""
    top, intervals = axis
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i in range(intervals + 1):
        y = TOP + plot_h - plot_h * i / intervals
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
                     f"{escape(_fmt(top * i / intervals, percent))}</text>")
    every = math.ceil(len(labels) / max_labels) if labels else 1
    step = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        if i % every == 0:
            x = LEFT + step * (i + 0.5)
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" font-size="10">'
                         f"{escape(label)}</text>")
    return parts


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float | None], *, percent: bool = False) -> Markup:
    """Vertical bars, one per label (a missing value draws nothing)."""
    axis = _axis(values)
    top = axis[0]
    parts = _frame(title, axis, labels, percent)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        if value is None:
            continue
        h = plot_h * value / top
        parts.append(f'<rect x="{LEFT + step * i + step * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" '
                     f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="{COLOURS[0]}">'
                     f"<title>{escape(label)}: {escape(_fmt(value, percent))}</title></rect>")
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(title: str, labels: Sequence[str], series: dict[str, Sequence[float | None]], *,
               percent: bool = False, max_labels: int = 12) -> Markup:
    """One polyline per series (a gap where a value is missing), with a legend below the axis."""
    axis = _axis([v for vs in series.values() for v in vs])
    top = axis[0]
    parts = _frame(title, axis, labels, percent, max_labels)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(labels))
    for n, (name, vs) in enumerate(series.items()):
        colour = COLOURS[n % len(COLOURS)]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(vs):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{LEFT + step * (i + 0.5):.1f},{TOP + plot_h - plot_h * value / top:.1f}")
        for run in runs:
            if len(run) == 1:
                x, y = run[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif run:
                dash = ' stroke-dasharray="6 3"' if n % 2 else ""  # series that coincide stay apart
                parts.append(f'<polyline points="{" ".join(run)}" fill="none" stroke="{colour}" '
                             f'stroke-width="2"{dash}/>')
        parts.append(f'<text x="{LEFT + n * 160}" y="{HEIGHT - 6}" font-size="11" fill="{colour}">'
                     f"&#9632; {escape(name)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def hbar_chart(title: str, items: Sequence[tuple[str, float]]) -> Markup:
    """Horizontal bars, one row per (label, value): rankings such as top intents or handoff reasons."""
    row, label_w = 22, 190
    height = TOP + row * max(1, len(items)) + 8
    top = max((v for _, v in items), default=0.0) or 1.0
    bar_w = WIDTH - label_w - RIGHT - 40
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" xmlns="http://www.w3.org/2000/svg">',
             f"<title>{escape(title)}</title>"]
    for i, (label, value) in enumerate(items):
        y = TOP + row * i
        w = bar_w * value / top
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="11">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" fill="{COLOURS[0]}"/>')
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 14}" font-size="11">{escape(_fmt(value, False))}</text>')
    if not items:
        parts.append(f'<text x="{label_w}" y="{TOP + 14}" font-size="11">no data</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
