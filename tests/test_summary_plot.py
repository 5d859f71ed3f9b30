"""summary.png: natural order, file names for paths, each head's key metric, 8 values legible."""

from __future__ import annotations

import pytest

import fpexp
from fpexp.summary import _summary
from fpexp.summary_plot import draw, labeller, natural, x_keys

COLUMNS = ["job", "data.path", "model.hidden", "width", "depth", "params", "status"]
COLUMNS += ["output_std", "last_hidden_std", "accuracy"]
WIDTHS = [32, 2, 16, 4, 128, 8, 64, 1]  # 8 values, not in order
PATHS = ["/data/set/a/x.csv", "/data/set/b/x.csv"]  # same file name: told apart by folder


def _rows() -> list[dict]:
    rows = []
    for path in PATHS:
        for w in WIDTHS:
            rows.append(
                {"job": len(rows), "data.path": path, "model.hidden": [w], "width": w,
                 "depth": 1, "params": 8 * w + 1, "status": "completed",
                 "output_std": 0.1 * w, "last_hidden_std": 0.2, "accuracy": w / 200}
            )  # fmt: skip
    return rows


@pytest.mark.parametrize(
    "unordered, ordered",
    [
        (["[16]", "[2]", "[4]"], ["[2]", "[4]", "[16]"]),
        (["x10", "x9", "x1.5"], ["x1.5", "x9", "x10"]),
        (["[8,8]", "[8,16]", "[16,8]"], ["[8,8]", "[8,16]", "[16,8]"]),
        (["relu", "gelu", "tanh"], ["gelu", "relu", "tanh"]),
    ],
)
def test_labels_sort_naturally(unordered, ordered):
    assert sorted(unordered, key=natural) == ordered


def test_paths_are_shown_by_file_name_with_the_folders_that_tell_them_apart():
    assert labeller(["/a/b/x.csv", "/a/c/y.csv"]) == {"/a/b/x.csv": "x.csv", "/a/c/y.csv": "y.csv"}
    assert labeller(PATHS) == {PATHS[0]: "a/x.csv", PATHS[1]: "b/x.csv"}
    assert labeller(["relu", "gelu"]) == {"relu": "relu", "gelu": "gelu"}
    assert labeller([[8], [16]]) == {"[8]": "[8]", "[16]": "[16]"}


def test_eight_values_per_key_in_natural_order_with_the_metric_panel():
    fig = draw(COLUMNS, _rows(), ["accuracy"])
    axes = fig.get_axes()
    titles = [ax.get_title() for ax in axes]
    assert titles == ["parameters", "output std", "last hidden std", "accuracy"] * 2
    by_path, by_width = axes[:4], axes[4:]  # a row of panels per swept key
    assert by_path[0].get_xlabel() == "data.path"
    assert [t.get_text() for t in by_path[0].get_xticklabels()] == ["a/x.csv", "b/x.csv"]
    legend = [t.get_text() for t in by_path[3].get_legend().get_texts()]
    assert legend == [f"width={w}" for w in sorted(WIDTHS)]
    assert [ax.get_legend() is not None for ax in by_path] == [False, False, False, True]
    assert by_path[3].get_legend().get_bbox_to_anchor().x0 > by_path[3].bbox.x1  # beside it
    assert [t.get_text() for t in by_width[3].get_legend().get_texts()] == [
        "data.path=a/x.csv",
        "data.path=b/x.csv",
    ]
    (line_a, _) = by_width[3].get_lines()
    assert list(line_a.get_xdata()) == sorted(WIDTHS)
    assert list(line_a.get_ydata()) == [w / 200 for w in sorted(WIDTHS)]


def test_a_key_that_only_follows_another_is_not_plotted_again():
    """``task=binary,multiclass`` also changes task.out_features and task.threshold."""
    columns = ["job", "task.kind", "task.out_features", "seed", "params", "status"]
    rows = [
        {"task.kind": kind, "task.out_features": out, "seed": seed, "status": "completed"}
        for kind, out in (("binary", 1), ("multiclass", 3))
        for seed in (1, 2)
    ]
    assert x_keys(columns, rows) == ["task.kind", "seed"]


@pytest.mark.parametrize(
    "overrides, metrics",
    [
        (("task=binary,multiclass",), ["accuracy"]),
        (("data=synthetic", "seed=1,2"), []),  # no labels: no metric panel
    ],
)
def test_the_summary_plots_each_heads_key_metric_when_the_jobs_had_labels(
    tmp_path, overrides, metrics
):
    sweep = fpexp.sweep(*overrides, root=tmp_path)
    columns, rows, plotted = _summary(sweep.dir, None)
    assert plotted == metrics
    titles = [ax.get_title() for ax in draw(columns, rows, plotted).get_axes()]
    assert titles[: 3 + len(metrics)] == ["parameters", "output std", "last hidden std", *metrics]
