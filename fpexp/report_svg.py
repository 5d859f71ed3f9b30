"""Line charts as inline SVG text, drawn in Python: no plotting library in the page, nothing
fetched, a few kilobytes a chart. Every text is XML-escaped; numbers are formatted here.
"""

from __future__ import annotations

import math
from html import escape as _escape

from fpexp.report_data import Plot
from fpexp.summary import printable


def escape(text: str) -> str:
    """Text for HTML or SVG: markup escaped, control characters written as ``\\xNN``."""
    return _escape(printable(text), quote=True)


WIDTH, HEIGHT = 300, 230
LEFT, RIGHT, TOP, BOTTOM = 62, 12, 24, 58
COLORS = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)
DASHES = ("", "6 3", "2 2", "8 3 2 3")


def style(i: int) -> tuple[str, str]:
    """Line ``i``'s colour and dash pattern (10 colours, then dashed: 40 tell apart)."""
    return COLORS[i % len(COLORS)], DASHES[(i // len(COLORS)) % len(DASHES)]


def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values covering ``lo``..``hi``."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / n
    if not 0 < raw < math.inf:  # a range beyond floats, or below their resolution
        return [lo, hi]
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _num(v: float) -> str:
    return f"{v:.4g}" if v != 0 else "0"


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    if hi == lo:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.06
    return (lo - pad, hi + pad) if math.isfinite(pad) else (lo, hi)


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{extra}>{escape(text)}</text>'


def _short(text: str, n: int = 16) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


class Axes:
    """Data to pixel coordinates for one chart."""

    def __init__(self, plot: Plot, xs: list[float], ys: list[float]) -> None:
        self.log = plot.numeric and min(xs) > 0 and max(xs) / min(xs) >= 16
        if plot.numeric:
            self.x0, self.x1 = _span([math.log2(x) for x in xs] if self.log else xs)
        else:
            self.x0, self.x1 = -0.5, len(plot.ticks) - 0.5
        self.y0, self.y1 = _span([*ys, *(plot.span or ())])

    def px(self, x: float) -> float:
        x = math.log2(x) if self.log else x
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (WIDTH - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return HEIGHT - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (HEIGHT - TOP - BOTTOM)


def chart(plot: Plot, title: str | None = None) -> str:
    """``plot`` as one ``<svg>``: title, axis labels, ticks, one line with markers per series
    (each marker's ``<title>`` tells its series and values)."""
    xs = [x for s in plot.series for x, _ in s.points]
    ys = [y for s in plot.series for _, y in s.points]
    head = (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" '
        f'height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(plot.stat)} against {escape(plot.key)}">'
    )
    parts = [head, _text(WIDTH / 2, 16, title or plot.stat, ' class="title"')]
    if not ys:
        parts.append(_text(WIDTH / 2, HEIGHT / 2, "no values", ' class="none"'))
        return "".join([*parts, "</svg>"])
    axes = Axes(plot, xs, ys)
    parts += _y_axis(axes, plot.stat) + _x_axis(axes, plot, xs)
    for i in range(len(plot.series)):
        parts += _line(axes, plot, i)
    return "".join([*parts, "</svg>"])


def _y_axis(axes: Axes, label: str) -> list[str]:
    out = [f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>']
    for v in ticks(axes.y0, axes.y1):
        y = axes.py(v)
        out.append(
            f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>'
        )
        out.append(_text(LEFT - 4, y + 4, _num(v), ' text-anchor="end"'))
    mid = (TOP + HEIGHT - BOTTOM) / 2
    out.append(
        _text(
            0,
            0,
            _short(label, 30),
            f' class="label" transform="translate(12 {mid:.1f}) rotate(-90)" text-anchor="middle"',
        )
    )
    return out


def _x_axis(axes: Axes, plot: Plot, xs: list[float]) -> list[str]:
    base = HEIGHT - BOTTOM
    out = [f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    if plot.numeric:
        lo, hi = min(xs), max(xs)
        marks = sorted(set(xs)) if axes.log or len(set(xs)) <= 6 else ticks(lo, hi)
        named = [(v, _num(v)) for v in marks]
    else:
        named = [(float(i), t) for i, t in enumerate(plot.ticks)]
    slant = len(named) > 5 or any(len(t) > 8 for _, t in named)
    for v, text in named:
        x = axes.px(v)
        out.append(f'<line class="tick" x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>')
        extra = f' transform="rotate(-30 {x:.1f} {base + 14})" text-anchor="end"' if slant else ""
        extra = extra or ' text-anchor="middle"'
        out.append(
            f'<text x="{x:.1f}" y="{base + 14}"{extra}><title>{escape(text)}</title>'
            f"{escape(_short(text))}</text>"
        )
    label = plot.key + (" (log scale)" if axes.log else "")
    out.append(
        _text(
            LEFT + (WIDTH - LEFT - RIGHT) / 2,
            HEIGHT - 6,
            label,
            ' class="label" text-anchor="middle"',
        )
    )
    return out


def _line(axes: Axes, plot: Plot, i: int) -> list[str]:
    series = plot.series[i]
    if not series.points:
        return []
    color, dash = style(i)
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    d = " ".join(
        f"{'M' if j == 0 else 'L'}{axes.px(x):.1f} {axes.py(y):.1f}"
        for j, (x, y) in enumerate(series.points)
    )
    out = [f'<path class="line" d="{d}" stroke="{color}" fill="none"{dashed}/>']
    for x, y in series.points:
        shown = _num(x) if plot.numeric else plot.ticks[int(x)]
        tip = f"{series.label}: {plot.key}={shown}, {plot.stat}={y:.6g}"
        out.append(
            f'<circle cx="{axes.px(x):.1f}" cy="{axes.py(y):.1f}" r="3" fill="{color}">'
            f"<title>{escape(tip)}</title></circle>"
        )
    return out
