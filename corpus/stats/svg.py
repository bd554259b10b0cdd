"""Inline SVG plots for the HTML report: horizontal bar charts and histograms.

Hand-written SVG keeps the report one self-contained file with no plotting dependency and no
script; every label is escaped, and nothing refers to anything outside the file.
"""
from __future__ import annotations

import math
from html import escape

FONT = 'font-family="system-ui,sans-serif" font-size="12"'
BAR = "#4c78a8"
CUT = "#e45756"
AXIS = "#555"


def _fmt(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:.3g}"


def bar_chart(rows: list[tuple[str, float, float]], width: int = 760, bar_height: int = 20,
              label_width: int = 220, title: str = "") -> str:
    """One horizontal bar per (label, value, cut): `value` in blue, then `cut` (what this row
    lost, e.g. documents a step removed) in red, with both numbers printed after the bar."""
    if not rows:
        return ""
    peak = max(v + c for _, v, c in rows) or 1
    plot = width - label_width - 150
    height = len(rows) * (bar_height + 6) + 10
    parts = [f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" {FONT}>']
    for i, (label, value, cut) in enumerate(rows):
        y = 5 + i * (bar_height + 6)
        w = max(1.0, plot * value / peak) if value else 0
        cut_w = max(1.0, plot * cut / peak) if cut else 0
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(f'<text x="{label_width - 6}" y="{y + bar_height * 0.7:.1f}" text-anchor="end">'
                     f'<title>{escape(label)}</title>{escape(short)}</text>')
        parts.append(f'<rect x="{label_width}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                     f'fill="{BAR}"/>')
        if cut:
            parts.append(f'<rect x="{label_width + w:.1f}" y="{y}" width="{cut_w:.1f}" '
                         f'height="{bar_height}" fill="{CUT}"/>')
        text = escape(_fmt(value))
        if cut:
            text += f' <tspan fill="{CUT}">−{escape(_fmt(cut))}</tspan>'
        parts.append(f'<text x="{label_width + w + cut_w + 6:.1f}" y="{y + bar_height * 0.7:.1f}">'
                     f'{text}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _linear_ticks(edges: list[float]) -> list[tuple[float, str]]:
    """About five ticks at round values (1, 2 or 5 times a power of ten), as (bin position, label)."""
    lo, hi, n = edges[0], edges[-1], len(edges) - 1
    span = hi - lo
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * 0.999)
    ticks, value = [], math.ceil(lo / step - 1e-9) * step
    while value <= hi + step * 1e-9:
        ticks.append(((value - lo) / span * n, _fmt(round(value, 10))))
        value += step
    return ticks


def _log_ticks(edges: list[float]) -> list[tuple[float, str]]:
    """Ticks at the edges that are powers of ten (or every few edges if there are too few)."""
    ticks = [(i, _fmt(e)) for i, e in enumerate(edges)
             if e > 0 and abs(math.log10(e) - round(math.log10(e))) < 1e-9]
    if len(ticks) >= 2:
        return ticks
    step = max(1, round((len(edges) - 1) / 5))
    return [(i, _fmt(edges[i])) for i in range(0, len(edges), step)]


def histogram(counts: list[int], edges: list[float], xlabel: str, width: int = 520,
              height: int = 190, log_x: bool = False) -> str:
    """Vertical bars over `edges` (one more than `counts`), with round-valued x ticks."""
    if not counts or not any(counts):
        return '<p class="empty">no values</p>'
    left, right, top, bottom = 50, 30, 10, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(counts)
    bar_w = plot_w / len(counts)
    parts = [f'<svg role="img" aria-label="{escape(xlabel)}" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" {FONT}>']
    for i, c in enumerate(counts):
        if c:
            h = max(1.0, plot_h * c / peak)
            label = f"{_fmt(edges[i])} – {_fmt(edges[i + 1])}: {c:,}"
            parts.append(f'<rect x="{left + i * bar_w:.1f}" y="{top + plot_h - h:.1f}" '
                         f'width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" fill="{BAR}">'
                         f'<title>{escape(label)}</title></rect>')
    base = top + plot_h
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="{AXIS}"/>')
    parts.append(f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="{AXIS}"/>')
    parts.append(f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{peak:,}</text>')
    parts.append(f'<text x="{left - 4}" y="{base}" text-anchor="end">0</text>')
    for position, label in (_log_ticks(edges) if log_x else _linear_ticks(edges)):
        x = left + position * bar_w
        parts.append(f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="{AXIS}"/>')
        parts.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{escape(label)}</text>')
    scale = " (log scale)" if log_x else ""
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
                 f'fill="{AXIS}">{escape(xlabel + scale)}</text>')
    parts.append("</svg>")
    return "".join(parts)
