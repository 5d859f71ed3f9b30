"""``summary.png``: parameter count, output std and last hidden std against each swept key.

Importing matplotlib and drawing costs ~0.4 s, a tenth of a small sweep. So a sweep starts
``python -m fpexp.summary_plot`` as soon as it begins (``Renderer``): the helper imports
matplotlib on the other core while the jobs run, then waits for the table on stdin.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
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
    """Swept keys to plot against; a swept ``model.hidden`` is shown as width and depth."""
    swept = columns[1 : columns.index("params")]
    if "model.hidden" in swept:
        swept = [k for k in swept if k not in ("model.hidden", "width", "depth")]
        for derived in ("width", "depth"):
            values = {r.get(derived) for r in rows if r.get("status") == "completed"}
            if len(values) > 1 and all(_is_number(v) for v in values):
                swept.append(derived)
    return swept


def _label(v: Any) -> str:
    return "[" + ",".join(map(str, v)) + "]" if isinstance(v, list) else str(v)


def plot_summary(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    keys = x_keys(columns, rows) or ["job"]
    done = [r for r in rows if r.get("status") == "completed"]
    fig = Figure(figsize=(4.2 * len(PANELS), 3.2 * len(keys)), layout="constrained")
    axes = fig.subplots(len(keys), len(PANELS), squeeze=False)
    for row_axes, key in zip(axes, keys, strict=True):
        others = [k for k in keys if k != key]
        numeric = all(_is_number(r.get(key)) for r in done)
        categories = sorted({_label(r.get(key)) for r in done}) if not numeric else []
        groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
        for r in done:
            groups[tuple(_label(r.get(k)) for k in others)].append(r)
        for ax, (metric, title) in zip(row_axes, PANELS, strict=True):
            for group, members in sorted(groups.items()):
                pts = [
                    (r[key] if numeric else categories.index(_label(r[key])), r.get(metric))
                    for r in members
                    if _is_number(r.get(metric)) and not math.isnan(r[metric])
                ]
                if not pts:
                    continue
                xs, ys = zip(*sorted(pts), strict=True)
                label = ", ".join(f"{k}={v}" for k, v in zip(others, group, strict=True)) or None
                ax.plot(xs, ys, marker="o", label=label)
            if not numeric:
                ax.set_xticks(range(len(categories)), categories)
            elif key in ("width", "model.width") and len({r[key] for r in done}) > 2:
                ax.set_xscale("log", base=2)
            elif all(isinstance(r[key], int) for r in done):
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_xlabel(key)
            ax.set_title(title)
            ax.grid(alpha=0.3)
            if others and ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=80)


class Renderer:
    """A helper process, started early, that draws ``summary.png`` when given the table."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fpexp.summary_plot"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def render(self, path: Path, columns: list[str], rows: list[dict[str, Any]]) -> bool:
        """Hand over the table and wait; False if the helper failed (then plot in-process)."""
        payload = json.dumps({"path": str(path), "columns": columns, "rows": rows})
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
    plot_summary(Path(job["path"]), job["columns"], job["rows"])


if __name__ == "__main__":
    _serve()
