"""``summary.png``: parameter count, output std, last hidden std and, where the jobs had
labels, each head's key metric (accuracy, mse, ...) against each swept key.

Lines (one per value of the other swept keys) and categories are in natural order (``[2]``
before ``[16]``), a path-valued key shows file names, and legends stay legible with 8 values.

Importing matplotlib and drawing costs ~0.4 s, a tenth of a small sweep. So a sweep starts
``python -m fpexp.summary_plot`` as soon as it begins (``Renderer``): the helper imports
matplotlib on the other core while the jobs run, then waits for the table on stdin.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path, PurePath
from typing import Any

from fpexp.atomic import atomic_path

PANELS = (
    ("params", "parameters"),
    ("output_std", "output std"),
    ("last_hidden_std", "last hidden std"),
)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def x_keys(columns: list[str], rows: list[dict[str, Any]]) -> list[str]:
    """Swept keys to plot against; a swept ``model.hidden`` is shown as width and depth; a key
    that only follows an earlier one (``task.out_features`` with ``task.kind``) is left out."""
    swept = columns[1 : columns.index("params")]
    done = [r for r in rows if r.get("status") == "completed"]
    if "model.hidden" in swept:
        swept = [k for k in swept if k not in ("model.hidden", "width", "depth")]
        for derived in ("width", "depth"):
            values = {r.get(derived) for r in done}
            if len(values) > 1 and all(_is_number(v) for v in values):
                swept.append(derived)
    kept: list[str] = []
    for key in swept:
        if not any(_follows(done, key, earlier) for earlier in kept):
            kept.append(key)
    return kept


def _follows(rows: list[dict[str, Any]], key: str, earlier: str) -> bool:
    """Whether each value of ``earlier`` comes with one value of ``key`` in every row."""
    seen: dict[str, str] = {}
    for r in rows:
        a, b = _label(r.get(earlier)), _label(r.get(key))
        if seen.setdefault(a, b) != b:
            return False
    return bool(rows)


def _label(v: Any) -> str:
    return "[" + ",".join(map(str, v)) + "]" if isinstance(v, list) else str(v)


def natural(text: str) -> tuple:
    """Sort key reading the digits in ``text`` as numbers: ``[2]`` < ``[16]``, ``x9`` < ``x10``."""
    parts = re.split(r"(\d+(?:\.\d+)?)", text)
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts) if p)


def labeller(values: list[Any]) -> dict[str, str]:
    """Each value's label; paths by file name (with as many parent folders as tell them apart)."""
    labels = {_label(v): _label(v) for v in values}
    paths = [t for t in labels if "/" in t and not t.startswith("[")]
    if paths and len(paths) == len(labels):
        for depth in range(1, max(len(PurePath(t).parts) for t in paths) + 1):
            short = {t: "/".join(PurePath(t).parts[-depth:]) for t in paths}
            if len(set(short.values())) == len(short):
                return short
    return labels


def panels(metrics: list[str]) -> list[tuple[str, str]]:
    return [*PANELS, *((m, m) for m in metrics)]


def plot_summary(
    path: Path, columns: list[str], rows: list[dict[str, Any]], metrics: Sequence[str] = ()
) -> None:
    fig = draw(columns, rows, list(metrics))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)


def draw(columns: list[str], rows: list[dict[str, Any]], metrics: list[str]) -> Any:
    """The figure: a row of panels per swept key."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = x_keys(columns, rows) or ["job"]
    done = [r for r in rows if r.get("status") == "completed"]
    shown = panels(metrics)
    fig = Figure(figsize=(4.4 * len(shown), 3.4 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), len(shown), squeeze=False)
    names = {k: labeller([r.get(k) for r in done]) for k in keys}
    for row_axes, key in zip(axes, keys, strict=True):
        others = [k for k in keys if k != key]
        numeric = all(_is_number(r.get(key)) for r in done)
        categories = sorted({_label(r.get(key)) for r in done}, key=natural) if not numeric else []
        groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for r in done:
            groups[tuple(_label(r.get(k)) for k in others)].append(r)
        ordered = sorted(groups.items(), key=lambda item: tuple(natural(v) for v in item[0]))
        for ax, (metric, title) in zip(row_axes, shown, strict=True):
            for group, members in ordered:
                pts = [
                    (r[key] if numeric else categories.index(_label(r[key])), r.get(metric))
                    for r in members
                    if _is_number(r.get(metric)) and not math.isnan(r[metric])
                ]
                if not pts:
                    continue
                xs, ys = zip(*sorted(pts), strict=True)
                label = ", ".join(f"{k}={names[k][v]}" for k, v in zip(others, group, strict=True))
                ax.plot(xs, ys, marker="o", label=label or None)
            if not numeric:
                ax.set_xticks(range(len(categories)), [names[key][c] for c in categories])
                if len(categories) > 4:
                    ax.tick_params(axis="x", labelrotation=30)
            elif key in ("width", "model.width") and len({r[key] for r in done}) > 2:
                ax.set_xscale("log", base=2)
            elif all(isinstance(r[key], int) for r in done):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(key)
            ax.set_title(title)
            ax.grid(alpha=0.3)
        _legend(row_axes[-1], len(ordered))
    return fig


def _legend(ax: Any, lines: int) -> None:
    """One legend per row of panels, right of its last panel (never over the points)."""
    if ax.get_legend_handles_labels()[0] and lines > 1:
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize="small" if lines <= 8 else "x-small",
            ncols=1 if lines <= 12 else 2,
            borderaxespad=0.0,
        )


class Renderer:
    """A helper process, started early, that draws ``summary.png`` when given the table."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fpexp.summary_plot"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def render(
        self,
        path: Path,
        columns: list[str],
        rows: list[dict[str, Any]],
        metrics: Sequence[str] = (),
    ) -> bool:
        """Hand over the table and wait; False if the helper failed (then plot in-process)."""
        table = {"columns": columns, "rows": rows, "metrics": list(metrics)}
        payload = json.dumps({"path": str(path), **table})
        try:
            self.proc.communicate(payload.encode(), timeout=120)
        except (OSError, subprocess.SubprocessError):
            self.close()
            return False
        return self.proc.returncode == 0 and path.exists()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _serve() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.figure

    job = json.loads(sys.stdin.read())
    plot_summary(Path(job["path"]), job["columns"], job["rows"], job.get("metrics", []))


if __name__ == "__main__":
    _serve()
