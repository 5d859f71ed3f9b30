"""What ``fpexp report`` shows, as plain data: the table, the plots against each swept key and
each run's per-layer statistics. Pure functions over ``run_table`` rows and records (untrusted:
only numbers are plotted, anything else is text); no HTML here (``report_html``).
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from fpexp import run_table
from fpexp.catalog import Run
from fpexp.run_query import as_float, is_num
from fpexp.summary_plot import labeller, natural

STATS = ("metrics.", "results.output_mean.", "results.output_std.")  # what is plotted
LAYER_STATS = ("mean", "std", "min", "max")


@dataclass(frozen=True)
class Series:
    """One line: its legend label and its points (x: a number, or a category's index)."""

    label: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Plot:
    """One chart: ``stat`` against ``key``; ``ticks`` name the categories of a categorical key
    (empty for a numeric one); one series per value of the other swept keys; ``span``: the
    y range the values can take, where known (a fraction: 0 to 1)."""

    key: str
    stat: str
    ticks: tuple[str, ...]
    series: tuple[Series, ...]
    span: tuple[float, float] | None = None

    @property
    def numeric(self) -> bool:
        return not self.ticks


@dataclass(frozen=True)
class Report:
    """The runs picked, the table's columns and rows, the swept keys, the plots, and the stats
    left out of them because every completed run has the same value (``constant``)."""

    runs: list[Run]
    columns: list[str]
    rows: list[dict[str, Any]]
    swept: list[str]
    plots: list[Plot]
    constant: dict[str, float]


def build(listing: run_table.Listing) -> Report:
    """Everything the page shows, from the runs a query picked."""
    columns = run_table.columns(listing.rows)
    done = [r for r in listing.rows if r.get("status") == "completed"]
    differ = [  # the columns are: fixed, the config keys that differ, metrics, note
        c for c in columns if c not in (*run_table.FIXED, "note") and not c.startswith("metrics.")
    ]
    swept = swept_keys(differ, done)
    constant: dict[str, float] = {}
    for stat in stats(done):
        seen = {_value(r.get(stat)) for r in done}
        if len(seen) == 1 and (only := seen.pop()) is not None:
            constant[stat] = only
    plots = [p for key in swept for p in key_plots(key, swept, done) if p.stat not in constant]
    return Report(listing.runs, columns, listing.rows, swept, plots, constant)


def swept_keys(differ: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[str]:
    """The keys that differ among completed runs, less those that only follow an earlier one
    (``task.out_features`` with ``task.kind``): one plot row per thing the user varied."""
    kept: list[str] = []
    for key in differ:
        if len({_label(r.get(key)) for r in rows}) < 2:
            continue
        if not any(_follows(rows, key, earlier) for earlier in kept):
            kept.append(key)
    return kept


def _follows(rows: Sequence[dict[str, Any]], key: str, earlier: str) -> bool:
    """Whether each value of ``earlier`` comes with one value of ``key`` in every row."""
    seen: dict[str, str] = {}
    return all(
        seen.setdefault(_label(r.get(earlier)), _label(r.get(key))) == _label(r.get(key))
        for r in rows
    )


def _label(value: Any) -> str:
    """A value as text: numbers and text as themselves, null as ``null``, else compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def stats(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every metric and output statistic some row has as a number, metrics first."""
    keys = [k for k in run_table.known_keys(rows) if any(is_num(r.get(k)) for r in rows)]
    return [k for prefix in STATS for k in keys if k.startswith(prefix)]


def _value(value: Any) -> float | None:
    """A finite number to plot, else None (text, bool, null, NaN, infinite)."""
    number = as_float(value)
    return number if number is not None and math.isfinite(number) else None


def key_plots(key: str, swept: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[Plot]:
    """Every stat against ``key``: a line per value of the other swept keys (in natural
    order), a numeric axis when every value of ``key`` is a number, else categories in
    natural order; path-valued keys by file name."""
    others = [k for k in swept if k != key]
    numeric = all(is_num(r.get(key)) for r in rows)
    categories = [] if numeric else sorted({_label(r.get(key)) for r in rows}, key=natural)
    names = {k: labeller([_label(r.get(k)) for r in rows]) for k in others}
    ticks = labeller(categories) if categories else {}
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[tuple(_label(r.get(k)) for k in others)].append(r)
    ordered = sorted(groups.items(), key=lambda item: tuple(natural(v) for v in item[0]))
    plots = []
    for stat in stats(rows):
        series = []
        for group, members in ordered:
            label = ", ".join(f"{k}={names[k][v]}" for k, v in zip(others, group, strict=True))
            pts = []
            for r in members:
                y = _value(r.get(stat))
                x = float(r[key]) if numeric else float(categories.index(_label(r.get(key))))
                if y is not None:
                    pts.append((x, y))
            series.append(Series(label or "all runs", tuple(sorted(pts))))
        plots.append(Plot(key, stat, tuple(ticks[c] for c in categories), tuple(series)))
    return plots


def layer_rows(run: Run) -> list[dict[str, Any]]:
    """The run's per-layer statistics as recorded (``layers``, the rows of layers.csv); only
    entries that are mappings, in recorded order."""
    layers = run.record.get("layers") if run.problem is None else None
    return [x for x in layers or [] if isinstance(x, dict)]


def layer_plots(layers: Sequence[dict[str, Any]]) -> list[Plot]:
    """Mean, std, min and max of each layer's output, then its fraction of exact zeros, with
    the layers (``index type``) as categories."""
    if not layers:
        return []
    ticks = tuple(f"{x.get('index', i)} {x.get('type', '?')}" for i, x in enumerate(layers))

    def line(name: str) -> Series:
        pts = ((float(i), _value(x.get(name))) for i, x in enumerate(layers))
        return Series(name, tuple((i, y) for i, y in pts if y is not None))

    return [
        Plot("layer", "output statistics", ticks, tuple(line(s) for s in LAYER_STATS)),
        Plot("layer", "fraction of zeros", ticks, (line("zero_fraction"),), (0.0, 1.0)),
    ]
