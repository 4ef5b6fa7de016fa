"""Inline SVG charts built in Python: no JavaScript library and no network needed to view the report.

Every label goes through `html.escape`. Withheld (suppressed) values are drawn as gaps, never as 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape

import pandas as pd

PALETTE = ["#1b6ca8", "#d1495b", "#edae49", "#00798c", "#6a4c93", "#3d9970", "#8c564b", "#7f7f7f"]
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


#: Every chart is drawn on this width and scaled to the page's full width (viewBox; CSS width 100%).
WIDTH = 940


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(top: float, target: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least `top`: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def tick_label(value: float) -> str:
    """A tick with thousands separators, and no needless decimals."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _svg(width: int, height: int, body: list[str], title: str, chart: str) -> str:
    return (f'<svg class="chart" data-chart="{escape(chart)}" role="img" viewBox="0 0 {width} {height}" '
            f'width="100%" preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg" {FONT}>'
            f"<title>{escape(title)}</title>{''.join(body)}</svg>")


def pareto_svg(points: pd.DataFrame, top_share: float) -> str:
    """Cumulative share of cost against share of persons, most costly first, with the line of equality."""
    w, h, m = WIDTH, 380, 50
    pw, ph = w - 2 * m, h - 2 * m

    def xy(px: float, share: float) -> tuple[float, float]:
        return m + pw * px / 100, m + ph * (1 - share)

    body = [f'<rect x="{m}" y="{m}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    for t in range(0, 101, 20):
        x, _ = xy(t, 0)
        _, y = xy(0, t / 100)
        body += [f'<line x1="{x}" y1="{m}" x2="{x}" y2="{m + ph}" stroke="#eee"/>',
                 f'<text x="{x}" y="{m + ph + 16}" text-anchor="middle">{t}%</text>',
                 f'<line x1="{m}" y1="{y}" x2="{m + pw}" y2="{y}" stroke="#eee"/>',
                 f'<text x="{m - 6}" y="{y + 4}" text-anchor="end">{t}%</text>']
    body.append(f'<line x1="{m}" y1="{m + ph}" x2="{m + pw}" y2="{m}" stroke="#999" stroke-dasharray="4 3"/>')
    if not points.empty:
        coords = [xy(0, 0)] + [xy(p, s) for p, s in zip(points["top_percent"], points["cost_share"], strict=True)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline class="series" points="{path}" fill="none" stroke="{colour(1)}" stroke-width="2.5"/>')
        marker = points.loc[points["top_percent"] == round(top_share * 100)]
        if not marker.empty:
            x, y = xy(float(marker["top_percent"].iloc[0]), float(marker["cost_share"].iloc[0]))
            share = float(marker["cost_share"].iloc[0])
            body += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{colour(1)}"/>',
                     f'<text x="{x + 8:.1f}" y="{y + 16:.1f}">top {top_share:.0%} carry {share:.0%} of cost</text>']
    else:
        body.append(f'<text x="{m + pw / 2}" y="{m + 30}" text-anchor="middle">curve withheld: too few persons</text>')
    body += [f'<text x="{m + pw / 2}" y="{h - 8}" text-anchor="middle">persons, most costly first</text>',
             f'<text transform="translate(14 {m + ph / 2}) rotate(-90)" text-anchor="middle">'
             "share of total cost</text>"]
    return _svg(w, h, body, "Pareto curve: share of total cost carried by the most costly persons", "pareto")


def flow_svg(flows: pd.DataFrame) -> str:
    """A two-column flow chart (Sankey style): from one agency to the next agency in persons' pathways."""
    cross = flows[(flows["from_agency"] != flows["to_agency"]) & flows["persons"].notna()]
    agencies = sorted(set(flows["from_agency"]) | set(flows["to_agency"]))
    w, m, gap = WIDTH, 20, 24
    total = float(cross["persons"].sum()) if not cross.empty else 0.0
    height_for = 260.0
    scale = height_for / total if total else 0.0

    def stacks(side: str) -> dict[str, float]:
        sizes = cross.groupby(side)["persons"].sum() if not cross.empty else pd.Series(dtype=float)
        top, out = float(m + 20), {}
        for a in agencies:
            out[a] = top
            top += float(sizes.get(a, 0)) * scale + gap
        return out

    left, right = stacks("from_agency"), stacks("to_agency")
    h = int(max([*left.values(), *right.values(), m + 20]) + height_for / 2 + m)
    body = [f'<text x="{m}" y="{m + 4}" font-weight="bold">from</text>',
            f'<text x="{w - m}" y="{m + 4}" text-anchor="end" font-weight="bold">to (next event)</text>']
    lo, ro = dict(left), dict(right)
    x0, x1 = 180, w - 180
    for i, a in enumerate(agencies):
        out_h = max(float(cross.loc[cross["from_agency"] == a, "persons"].sum()) * scale, 2)
        in_h = max(float(cross.loc[cross["to_agency"] == a, "persons"].sum()) * scale, 2)
        body += [f'<rect x="{x0 - 12}" y="{left[a]:.1f}" width="12" height="{out_h:.1f}" fill="{colour(i)}"/>',
                 f'<text x="{x0 - 18}" y="{left[a] + out_h / 2 + 4:.1f}" text-anchor="end">{escape(a)}</text>',
                 f'<rect x="{x1}" y="{right[a]:.1f}" width="12" height="{in_h:.1f}" fill="{colour(i)}"/>',
                 f'<text x="{x1 + 18}" y="{right[a] + in_h / 2 + 4:.1f}">{escape(a)}</text>']
    for row in cross.itertuples(index=False):  # one band per published agency pair: a handful at most
        size = float(row.persons) * scale
        ya, yb = lo[row.from_agency], ro[row.to_agency]
        lo[row.from_agency] += size
        ro[row.to_agency] += size
        mid = (x0 + x1) / 2
        path = (f"M{x0},{ya:.1f} C{mid},{ya:.1f} {mid},{yb:.1f} {x1},{yb:.1f} L{x1},{yb + size:.1f} "
                f"C{mid},{yb + size:.1f} {mid},{ya + size:.1f} {x0},{ya + size:.1f} Z")
        label = f"{row.from_agency} → {row.to_agency}: {int(row.persons):,} persons"
        body.append(f'<path class="series" d="{path}" fill="{colour(agencies.index(row.from_agency))}" '
                    f'fill-opacity="0.45" stroke="none"><title>{escape(label)}</title></path>')
    if cross.empty:
        body.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">no cross-agency flow can be published</text>')
    return _svg(w, h, body, "Cross-agency transitions: persons moving from one agency to the next", "flows")


def bar_svg(labels: list[str], values: list[float | None], title: str, chart: str, unit: str = "persons",
            shown: Callable[[float], str] = tick_label) -> str:
    """Horizontal bars; a withheld value is drawn as a hatched 'withheld' marker rather than a bar."""
    w, row_h, left, m = WIDTH, 26, 260, 20
    h = m * 2 + row_h * len(labels)
    top = max([v for v in values if v] or [1])  # all zero (a theme with no costs): bars of width 0
    body = []
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = m + i * row_h
        body.append(f'<text x="{left - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>')
        if value is None:
            body.append(f'<text x="{left + 4}" y="{y + 17}" fill="#888">withheld (small number)</text>')
            continue
        bw = (w - left - 90) * value / top
        body += [f'<rect class="series" x="{left}" y="{y + 4}" width="{bw:.1f}" height="{row_h - 8}" '
                 f'fill="{colour(0)}"><title>{escape(label)}: {escape(shown(value))} {unit}</title></rect>',
                 f'<text x="{left + bw + 6:.1f}" y="{y + 17}">{escape(shown(value))}</text>']
    return _svg(w, h, body, title, chart)


def lines_svg(table: pd.DataFrame, title: str, chart: str) -> str:
    """One line per column over the rows (months); a withheld value breaks the line."""
    w, h, m, legend = WIDTH, 340, 60, 130
    pw, ph = w - 2 * m - legend, h - 2 * m
    rows = list(table.index)
    numeric = table.astype("Float64")
    ticks = nice_ticks(float(numeric.max().max()) if numeric.notna().any().any() else 0.0)
    top = ticks[-1]

    def xy(i: int, v: float) -> tuple[float, float]:
        return m + pw * (i / max(len(rows) - 1, 1)), m + ph * (1 - v / top)

    body = [f'<rect x="{m}" y="{m}" width="{pw}" height="{ph}" fill="#fafafa" stroke="#ccc"/>']
    for i, label in enumerate(rows):
        x, _ = xy(i, 0)
        if i % max(1, len(rows) // 6) == 0:
            body.append(f'<text x="{x:.1f}" y="{m + ph + 16}" text-anchor="middle">{escape(str(label))}</text>')
    for t in ticks:
        _, y = xy(0, t)
        body += [f'<line x1="{m}" y1="{y:.1f}" x2="{m + pw}" y2="{y:.1f}" stroke="#e4e4e4"/>',
                 f'<text x="{m - 6}" y="{y + 4:.1f}" text-anchor="end">{tick_label(t)}</text>']
    if not numeric.notna().any().any():
        body.append(f'<text x="{m + pw / 2}" y="{m + ph / 2}" text-anchor="middle">every value withheld</text>')
    for j, col in enumerate(table.columns):
        segments: list[list[str]] = [[]]
        for i, v in enumerate(numeric[col]):
            if pd.isna(v):
                segments.append([])
                continue
            x, y = xy(i, float(v))
            segments[-1].append(f"{x:.1f},{y:.1f}")
        for seg in (s for s in segments if s):
            body.append(f'<polyline class="series" points="{" ".join(seg)}" fill="none" stroke="{colour(j)}" '
                        f'stroke-width="2"/>')
        ly = m + 16 * j
        body += [f'<rect x="{w - legend}" y="{ly}" width="12" height="12" fill="{colour(j)}"/>',
                 f'<text x="{w - legend + 18}" y="{ly + 11}">{escape(str(col))}</text>']
    return _svg(w, h, body, title, chart)


def diverging_svg(labels: list[str], values: list[float], title: str, chart: str, unit: str = "") -> str:
    """Horizontal bars either side of a zero line (evidence for to the right, against to the left)."""
    w, row_h, left, m = 720, 20, 320, 20
    h = m * 2 + row_h * len(labels) + 20
    top = max([abs(v) for v in values] or [1]) or 1
    half = (w - left - 60) / 2
    zero = left + half
    body = [f'<line x1="{zero}" y1="{m}" x2="{zero}" y2="{h - m - 16}" stroke="#999"/>',
            f'<text x="{zero - 6}" y="{h - 8}" text-anchor="end">← against</text>',
            f'<text x="{zero + 6}" y="{h - 8}">for →</text>']
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = m + i * row_h
        bw = half * abs(value) / top
        x = zero if value >= 0 else zero - bw
        body += [f'<text x="{left - 8}" y="{y + 14}" text-anchor="end">{escape(label)}</text>',
                 f'<rect class="series" x="{x:.1f}" y="{y + 3}" width="{bw:.1f}" height="{row_h - 6}" '
                 f'fill="{colour(0 if value >= 0 else 1)}"><title>{escape(label)}: {value:+.1f}{unit}</title></rect>',
                 f'<text x="{(x + bw + 4) if value >= 0 else (x - 4):.1f}" y="{y + 14}" '
                 f'text-anchor="{"start" if value >= 0 else "end"}">{value:+.1f}</text>']
    return _svg(w, h, body, title, chart)
