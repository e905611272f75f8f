"""Histograms as inline SVG, drawn on the server: no JavaScript, no chart library, no CDN.

Every chart carries a ``<title>`` and a ``<desc>`` (``aria-labelledby``) so screen readers
announce what it shows, and each bar has its own ``<title>`` with its range and count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 360
HEIGHT = 160
PAD_LEFT = 34
PAD_BOTTOM = 26
PAD_TOP = 8
PAD_RIGHT = 8


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    count: int


def bins_for(values: list[float], *, bins: int = 10, low=None, high=None) -> list[Bin]:
    """Equal-width bins over [low, high]; integers get integer edges."""
    if not values and (low is None or high is None):
        return []
    low = min(values) if low is None else low
    high = max(values) if high is None else high
    if high <= low:
        high = low + 1
    width = (high - low) / bins
    if all(isinstance(v, int) for v in values) and width >= 1:
        width = math.ceil(width)
    counts = [0] * bins
    for v in values:
        # Rounded first, so a value on an edge (0.5 with 0.1-wide bins) lands in the bin it
        # opens, not the one below (0.5 // 0.1 == 4.0 in floating point).
        i = math.floor(round((v - low) / width, 9)) if width else 0
        counts[min(max(i, 0), bins - 1)] += 1
    return [Bin(low + i * width, low + (i + 1) * width, counts[i]) for i in range(bins)]


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def histogram_svg(
    values: list[float],
    *,
    title: str,
    description: str = "",
    bins: int = 10,
    low=None,
    high=None,
    chart_id: str = "chart",
) -> SafeString:
    """An accessible SVG histogram of ``values``; every text is escaped."""
    data = bins_for(values, bins=bins, low=low, high=high)
    bars = [
        (f"{_fmt(b.low)}" if b.high - b.low == 1 else f"{_fmt(b.low)}–{_fmt(b.high)}", b.count)
        for b in data
    ]
    ticks = []
    if data:
        for i in (0, len(data) // 2, len(data)):
            ticks.append((i, _fmt(data[0].low + i * (data[0].high - data[0].low))))
    return _svg(bars, ticks, title=title, description=description, chart_id=chart_id)


def binned_histogram_svg(
    counts: list[int],
    *,
    title: str,
    edges: list[float] | None = None,
    labels: list[str] | None = None,
    open_end: bool = False,
    description: str = "",
    chart_id: str = "chart",
) -> SafeString:
    """An accessible SVG histogram of counts already binned: either by ``edges`` (one more
    than the counts; ``open_end`` when the last bin also holds what lies above its top edge)
    or by category ``labels`` (one per count). Every text is escaped."""
    counts = [int(c or 0) for c in counts]
    if labels is not None:
        labels = [str(label) for label in labels][: len(counts)]
        counts = counts[: len(labels)]
        bars = list(zip(labels, counts, strict=True))
        ticks = [(i + 0.5, label) for i, label in enumerate(labels)] if len(labels) <= 16 else []
    else:
        edges = list(edges or [])
        counts = counts[: max(len(edges) - 1, 0)]
        bars = []
        for i, count in enumerate(counts):
            last = i == len(counts) - 1
            if last and open_end:
                span = f"≥ {_fmt(edges[i])}"
            else:
                span = f"{_fmt(edges[i])}–{_fmt(edges[i + 1])}"
            bars.append((span, count))
        n = len(counts)
        # An open last bin has no top: its label sits at its start, as "6400+".
        end = n - 1 if open_end else n
        positions = sorted({0, n // 2, end}) if n else []
        ticks = [
            (i, f"{_fmt(edges[i])}+" if open_end and i == end else _fmt(edges[i]))
            for i in positions
        ]
    if not any(counts):
        bars = []
    return _svg(bars, ticks, title=title, description=description, chart_id=chart_id)


def _svg(
    bars: list[tuple[str, int]],
    ticks: list[tuple[float, str]],
    *,
    title: str,
    description: str,
    chart_id: str,
) -> SafeString:
    """Draw ``bars`` (label, count) of equal width, with axis labels at ``ticks`` (position in
    bar widths, text)."""
    tid, did = escape(f"{chart_id}-title"), escape(f"{chart_id}-desc")
    desc = description or title
    parts = [
        f'<svg class="histogram" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" aria-labelledby="{tid} {did}" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{tid}">{escape(title)}</title>',
        f'<desc id="{did}">{escape(desc)}</desc>',
    ]
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    base_y = PAD_TOP + plot_h
    parts.append(
        f'<line x1="{PAD_LEFT}" y1="{base_y}" x2="{WIDTH - PAD_RIGHT}" y2="{base_y}" '
        'stroke="#999" stroke-width="1"/>'
    )
    if bars:
        top = max(count for _label, count in bars) or 1
        bar_w = plot_w / len(bars)
        parts.append(
            f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 10}" font-size="10" text-anchor="end" '
            f'fill="#666">{top}</text>'
        )
        for i, (span, count) in enumerate(bars):
            h = plot_h * count / top
            x = PAD_LEFT + i * bar_w
            label = escape(f"{span}: {count}")
            parts.append(
                f'<rect x="{x + 1:.1f}" y="{base_y - h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
                f'height="{h:.1f}" fill="#3355cc"><title>{label}</title></rect>'
            )
        for i, text in ticks:
            parts.append(
                f'<text x="{PAD_LEFT + i * bar_w:.1f}" y="{HEIGHT - 8}" font-size="10" '
                f'text-anchor="middle" fill="#666">{escape(text)}</text>'
            )
    else:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" font-size="12" text-anchor="middle" '
            'fill="#666">—</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 (every interpolated text is escaped above)
