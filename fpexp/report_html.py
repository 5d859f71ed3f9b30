"""The report as one self-contained HTML page: style and script inline (from
``fpexp/report_assets``), charts as inline SVG, nothing fetched.

Everything read from records is untrusted: text is HTML-escaped (control characters written
as ``\\xNN``), the table's data is embedded as JSON with ``<``, ``>`` and ``&`` escaped (no
``</script>`` or ``<!--`` can end it), and a Content-Security-Policy allows only the page's own
script and style (by hash) and no network access at all.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import datetime, timezone
from html import escape as plain_escape
from importlib.resources import files
from typing import Any

from fpexp import run_table
from fpexp.catalog import Run
from fpexp.report_data import Plot, Report, layer_plots, layer_rows
from fpexp.report_svg import chart, escape, style
from fpexp.run_query import as_float

LAYER_COLUMNS = ("index", "type", "output_shape", "mean", "std", "min", "max", "zero_fraction")


def asset(name: str) -> str:
    return files("fpexp").joinpath("report_assets", name).read_text(encoding="utf-8")


GENERATOR = '<meta name="generator" content="fpexp report">'  # what -o may replace


def script_json(value: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` and line separators as escapes."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char in "<>&\u2028\u2029":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def runs_text(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page(report: Report, version: str) -> str:
    """The whole page."""
    css, js = asset("report.css"), asset("report.js")
    policy = (
        f"default-src 'none'; script-src {_hash(js)}; style-src {_hash(css)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    n = len(report.rows)
    when = datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
    swept = ", ".join(report.swept) or "none"
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            GENERATOR,
            f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
            f"<title>fpexp report: {runs_text(n)}</title>",
            f"<style>{css}</style></head><body>",
            "<header><h1>fpexp report</h1>",
            f'<p class="meta">{runs_text(n)}; swept: {escape(swept)}; written {escape(when)} by '
            f"fpexp {escape(version)}</p>",
            '<nav><a href="#table">runs</a><a href="#plots">plots</a>'
            '<a href="#layers">layers</a><a href="#records">records</a></nav></header>',
            table_section(report),
            plots_section(report),
            layers_section(report),
            records_section(report.runs),
            '<script type="application/json" id="fpexp-data">'
            + script_json(json.loads(run_table.as_json(report.columns, report.rows)))
            + "</script>",
            f"<script>{js}</script>",
            "</body></html>",
            "",
        ]
    )


def table_section(report: Report) -> str:
    """The comparison table: a header button per column (sort), a filter box above."""
    heads = "".join(
        f'<th scope="col"><button type="button">{escape(run_table.HEADERS.get(k, k))}</button></th>'
        for k in report.columns
    )
    body = "".join(_row(i, report.columns, r) for i, r in enumerate(report.rows))
    return (
        '<section id="table"><h2>Runs</h2>'
        '<input id="filter" type="search" placeholder="filter: words every shown row contains"'
        ' aria-label="filter rows"><span id="count"></span>'
        f'<div class="scroll"><table id="runs"><thead><tr>{heads}</tr></thead>'
        f"<tbody>{body}</tbody></table></div></section>"
    )


def _row(i: int, columns: list[str], row: dict[str, Any]) -> str:
    cells = []
    for key in columns:
        value, text = row.get(key), escape(run_table.cell(key, row.get(key)))
        if key == "run":
            text = f'<a href="#record-{i}">{text}</a>'
        if (number := _sort_number(value)) is not None:
            cells.append(f'<td class="num" data-n="{number}">{text}</td>')
        else:
            cells.append(f"<td>{text}</td>")
    status = escape(str(row.get("status", "")))
    return f'<tr class="{status}">{"".join(cells)}</tr>'


def _sort_number(value: Any) -> str | None:
    """A number as JavaScript's ``Number()`` reads it back (``Infinity`` too), else None."""
    number = as_float(value)
    if number is None or math.isnan(number):
        return None
    return repr(number) if math.isfinite(number) else ("-" if number < 0 else "") + "Infinity"


def legend(plot: Plot) -> str:
    """The lines of a row of charts: colour, dash and label of each series."""
    items = []
    for i, series in enumerate(plot.series):
        color, dash = style(i)
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        mark = (
            '<svg width="28" height="10" aria-hidden="true"><line x1="1" y1="5" x2="27" y2="5" '
            f'stroke="{color}" stroke-width="2"{dashed}/></svg>'
        )
        items.append(f"<li>{mark}{escape(series.label)}</li>")
    return f'<ul class="legend">{"".join(items)}</ul>'


def plots_section(report: Report) -> str:
    """Per swept key: a legend, then every metric and output statistic against the key."""
    parts = ['<section id="plots"><h2>Metrics and output statistics against each swept key</h2>']
    if not report.plots:
        why = "the completed runs differ in no config key" if report.rows else "no runs"
        parts.append(f"<p>Nothing to plot: {why}.</p>")
    if report.constant and report.swept:
        same = ", ".join(f"{k} = {v:.6g}" for k, v in report.constant.items())
        parts.append(f'<p class="constant">The same in every completed run: {escape(same)}.</p>')
    for key in report.swept:
        plots = [p for p in report.plots if p.key == key]
        if not plots:
            continue
        charts = "".join(chart(p) for p in plots)
        parts.append(
            f'<div class="key" data-key="{escape(key)}"><h3>{escape(key)}</h3>'
            f'{legend(plots[0])}<div class="charts">{charts}</div></div>'
        )
    return "".join([*parts, "</section>"])


def layers_section(report: Report) -> str:
    """A selector over the runs with layer statistics; each run's charts and table."""
    with_layers = [(i, r, layer_rows(r)) for i, r in enumerate(report.runs)]
    with_layers = [(i, r, rows) for i, r, rows in with_layers if rows]
    head = '<section id="layers"><h2>Per-layer statistics</h2>'
    if not with_layers:
        return head + "<p>No run recorded layer statistics.</p></section>"
    options = "".join(
        f'<option value="{i}">{escape(run_table.cell("run", report.rows[i]["run"]))} '
        f"({escape(run_table.cell('status', report.rows[i]['status']))})</option>"
        for i, _, _ in with_layers
    )
    views = "".join(_layer_view(i, rows) for i, _, rows in with_layers)
    return f'{head}<label>run <select id="layer-run">{options}</select></label>{views}</section>'


def _layer_view(i: int, rows: list[dict[str, Any]]) -> str:
    plots = layer_plots(rows)
    heads = "".join(f"<th>{escape(c)}</th>" for c in LAYER_COLUMNS)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{escape(run_table.cell(c, r.get(c)))}</td>" for c in LAYER_COLUMNS)
        + "</tr>"
        for r in rows
    )
    return (
        f'<div class="layer-view" data-run="{i}">{legend(plots[0])}'
        f'<div class="charts">{"".join(chart(p) for p in plots)}</div>'
        f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _pretty(value: Any) -> str:
    """Indented JSON for a ``<pre>`` (its strings' control characters already escaped)."""
    return plain_escape(json.dumps(value, indent=2, ensure_ascii=False))


def records_section(runs: list[Run]) -> str:
    """Each run's config and whole record, collapsed."""
    parts = ['<section id="records"><h2>Configs and records</h2>']
    for i, run in enumerate(runs):
        name = escape(run_table.cell("run", str(run.path)))
        note = escape(run.status_note())
        if run.problem is not None:
            inner = f"<p>{note}</p>"
        else:
            config = _pretty(run.record.get("config"))
            record = _pretty(run.record)
            inner = (
                f"<h4>config</h4><pre>{config}</pre>"
                f"<details><summary>record (run.json)</summary><pre>{record}</pre></details>"
            )
        parts.append(
            f'<details id="record-{i}"><summary>{name} — {note}</summary>{inner}</details>'
        )
    return "".join([*parts, "</section>"])
