"""``fpexp report``: the page's content (table rows and columns, plot series per swept key,
per-layer statistics, records), hostile record values kept inert, one-line errors, atomic
writes; and the page rendered in headless Chromium (sorting, filtering, the layer selector
driven, no console errors, a screenshot kept)."""

from __future__ import annotations

import json
import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import call_fpexp
from report_browser import Browser, chromium

import fpexp
from fpexp import run_table
from fpexp.report_data import build, key_plots, swept_keys
from fpexp.report_html import GENERATOR, page

HOSTILE = "</script><script>alert(1)</script><!--"
HOSTILE_KEY = "<img src=x onerror=alert(2)>"
ARTIFACT = Path(__file__).resolve().parents[1] / "outputs" / "test-artifacts" / "report.png"


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """``ws/o``: a hidden x seed sweep (binary) and a width x activation sweep (multiclass)."""
    ws = tmp_path_factory.mktemp("report")
    a = fpexp.sweep("model.hidden=[16],[2],[4]", "seed=1,2", root=ws / "o")
    b = fpexp.sweep(
        "task=multiclass", "model.width=4,32", "model.activation=relu,tanh", root=ws / "o"
    )
    return {"ws": ws, "a": a.dir, "b": b.dir}


def _report(*refs: Path | str, where: tuple[str, ...] = ()):
    from fpexp.commands.report import selected

    runs = selected([str(r) for r in refs], Path("outputs"))
    return build(run_table.pick(run_table.entries(runs), where))


def _records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/run.json")}


def test_the_table_is_the_runs_table_of_the_chosen_runs(made):
    report = _report(made["a"], made["b"])
    assert len(report.rows) == 10
    assert report.columns == run_table.columns(report.rows)
    assert {"model.hidden", "seed", "task.kind", "model.width", "metrics.accuracy"} <= set(
        report.columns
    )
    html = page(report, "0")
    assert html.count("<tr class=") == 10
    assert html.count('<details id="record-') == 10
    assert len(_report(made["a"], f"{made['a']}:0", made["a"] / "1").rows) == 6  # each once
    only_b = _report(made["a"], made["b"], where=("model.activation=tanh",))
    assert len(only_b.rows) == 2 and {r["model.activation"] for r in only_b.rows} == {"tanh"}


def test_each_stat_is_plotted_against_each_swept_key(made):
    report = _report(made["a"])
    assert report.swept == ["model.hidden", "seed"]
    recs = _records(made["a"])
    by = {(tuple(r["config"]["model"]["hidden"]), r["config"]["seed"]): r for r in recs.values()}
    stats = [p.stat for p in report.plots if p.key == "seed"]
    assert stats[0] == "metrics.accuracy" and report.constant["metrics.n"] == 5  # not plotted
    assert "results.output_mean.mammal" in stats and "results.output_std.mammal" in stats
    hidden = next(p for p in report.plots if (p.key, p.stat) == ("model.hidden", "metrics.bce"))
    assert hidden.ticks == ("[2]", "[4]", "[16]")  # categories in natural order
    assert [s.label for s in hidden.series] == ["seed=1", "seed=2"]
    for s, seed in zip(hidden.series, (1, 2), strict=True):
        want = [(i, by[(h,), seed]["metrics"]["bce"]) for i, h in enumerate((2, 4, 16))]
        assert list(s.points) == want
    seed = next(p for p in report.plots if (p.key, p.stat) == ("seed", "metrics.bce"))
    assert seed.numeric and [s.label for s in seed.series] == [
        "model.hidden=[2]",
        "model.hidden=[4]",
        "model.hidden=[16]",
    ]
    assert list(seed.series[2].points) == [(s, by[(16,), s]["metrics"]["bce"]) for s in (1, 2)]


def test_layer_charts_hold_each_runs_layers_csv(made):
    import csv

    from fpexp.report_data import layer_plots, layer_rows

    for run in _report(made["b"]).runs[:2]:
        with open(run.path / "layers.csv", newline="") as fh:
            table = list(csv.DictReader(fh))
        stats, zeros = layer_plots(layer_rows(run))
        assert stats.ticks == tuple(f"{r['index']} {r['type']}" for r in table)
        for series in stats.series:
            want = [(float(i), float(r[series.label])) for i, r in enumerate(table)]
            assert list(series.points) == want, series.label  # the same floats
        assert [y for _, y in zeros.series[0].points] == [float(r["zero_fraction"]) for r in table]


ROWS = [
    {"data.path": "/d/x9/in.csv", "task.kind": "binary", "task.out_features": 1, "lr": 0.1},
    {"data.path": "/d/x10/in.csv", "task.kind": "multiclass", "task.out_features": 3, "lr": 1},
    {"data.path": "/e/x9/in.csv", "task.kind": "binary", "task.out_features": 1, "lr": 10},
]


def test_keys_that_follow_an_earlier_one_get_no_plots_of_their_own():
    keys = ["task.kind", "task.out_features", "data.path", "lr"]
    assert swept_keys(keys, ROWS) == ["task.kind", "data.path"]  # lr follows data.path


@pytest.mark.parametrize(
    ("key", "ticks", "labels"),
    [
        ("lr", (), ["data.path=d/x9/in.csv", "data.path=d/x10/in.csv", "data.path=e/x9/in.csv"]),
        ("data.path", ("d/x9/in.csv", "d/x10/in.csv", "e/x9/in.csv"), ["lr=0.1", "lr=1", "lr=10"]),
    ],
)
def test_axes_and_lines_in_natural_order_paths_by_file_name(key, ticks, labels):
    rows = [
        {**r, "metrics.mse": float(i), "metrics.bad": [None, "x", True][i]}
        for i, r in enumerate(ROWS)
    ]
    plots = key_plots(key, [key, "data.path" if key == "lr" else "lr"], rows)
    assert [p.stat for p in plots] == ["metrics.mse"]  # never a number: not plotted
    assert plots[0].ticks == ticks and [s.label for s in plots[0].series] == labels


def _hostile_copy(made, tmp_path: Path) -> Path:
    """A copy of sweep a whose job 0 has a hostile string as a config value and a metric's name
    (unknown config keys make a record unreadable)."""
    copy = tmp_path / "o" / "sweep"
    shutil.copytree(made["a"], copy)
    path = copy / "0" / "run.json"
    rec = json.loads(path.read_text())
    rec["config"]["model"]["activation"] = HOSTILE
    rec["metrics"][HOSTILE_KEY] = 1.0
    path.write_text(json.dumps(rec))
    return copy


def test_an_unreadable_run_is_listed_with_why_and_left_out_of_the_plots(made, tmp_path):
    shutil.copytree(made["a"], tmp_path / "sweep")
    (tmp_path / "sweep" / "9").mkdir()
    (tmp_path / "sweep" / "9" / "run.json").write_text("{not json")
    report = _report(tmp_path / "sweep")
    assert [r["status"] for r in report.rows].count("unreadable") == 1
    assert report.plots == _report(made["a"]).plots
    html = page(report, "0")
    assert (
        "unreadable: run.json is not valid JSON (Expecting" in html
        and html.count("<tr class=") == 7
    )


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.data: dict[str, str] = {}
        self._in = ""

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in = dict(attrs).get("id") or ""

    def handle_data(self, data):
        if self._in == "fpexp-data":
            self.data["json"] = self.data.get("json", "") + data


def test_hostile_record_values_are_text_never_markup(made, tmp_path):
    copy = _hostile_copy(made, tmp_path)
    html = page(_report(copy), "0")
    assert HOSTILE not in html and HOSTILE_KEY not in html and "<!--" not in html
    parsed = _Tags()
    parsed.feed(html)
    assert parsed.tags.count("script") == 2 and "img" not in parsed.tags
    data = json.loads(parsed.data["json"])  # the embedded table round-trips exactly
    job0 = next(r for r in data if r["run"].endswith("/0"))
    assert job0["model.activation"] == HOSTILE and job0[f"metrics.{HOSTILE_KEY}"] == 1.0
    assert "&lt;/script&gt;&lt;script&gt;alert(1)" in html


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["nope"], "nope: no such run (no runs under outputs)"),
        (  # every bad reference at once
            ["nope", "@-9"],
            "nope: no such run (no runs under outputs)\n"
            "fpexp: error: @-9: there are only 0 runs (no runs under outputs)",
        ),
        (["empty"], "empty: no runs under it (a run or sweep directory)"),
        (["--root", "nowhere"], "nowhere: no such directory (name runs or sweep dirs)"),
        (["o", "--where", "seed=99"], "--where: none of the 10 runs match (seed=99)"),
        (
            ["o", "--where", "sede=1"],
            "--where: no listed run has the key 'sede' (did you mean seed?)",
        ),
        (
            ["o", "-o", "missing/r.html"],
            "--output: missing/r.html: its folder does not exist (a new file, or a report fpexp "
            "wrote)",
        ),
        (["o", "-o", "o"], "--output: o: is a directory (a new file, or a report fpexp wrote)"),
        (
            ["o", "--sort", "x"],
            "report: unrecognized arguments: --sort x (see fpexp report --help)",
        ),
    ],
)
def test_bad_input_is_one_line_and_no_file(made, args, line):
    (made["ws"] / "empty").mkdir(exist_ok=True)
    out = ["-o", "r.html"] if "-o" not in args else []
    done = call_fpexp(["report", *args, *out], made["ws"])
    assert (done.returncode, done.stderr) == (2, f"fpexp: error: {line}\n")
    assert done.stdout == "" and not (made["ws"] / "r.html").exists()


@pytest.mark.parametrize("before", ["old", None])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_other(made, monkeypatch, before):
    import fpexp.atomic

    old = made["ws"] / "old.html"
    old.unlink(missing_ok=True)
    if before is not None:
        before = f"{GENERATOR}{before}"  # an earlier report: the only file -o replaces
        old.write_text(before)

    def full(tmp, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fpexp.atomic, "finalize", full)
    done = call_fpexp(["report", "o", "-o", "old.html"], made["ws"])
    assert done.returncode == 1, done.stderr
    assert done.stderr == "fpexp: error: --output: old.html: No space left on device\n"
    assert (old.read_text() if old.exists() else None) == before
    assert not list(made["ws"].glob(".old.html*"))


def _fifo(ws: Path) -> Path:
    os.mkfifo(ws / "pipe")
    return ws / "pipe"


def _link(ws: Path) -> Path:
    (ws / "earlier.html").write_text(GENERATOR)
    (ws / "link.html").symlink_to(ws / "earlier.html")
    return ws / "link.html"


def _not_a_report(ws: Path) -> Path:
    (ws / "notes.html").write_text("<p>my notes</p>")
    return ws / "notes.html"


TARGETS = {  # found by a hostile review: -o replaced whatever was there (/dev/null as root)
    "a run's record": (lambda ws: next(ws.glob("o/multirun/*/*/0/run.json")), "exists and is not"),
    "a run's outputs": (lambda ws: next(ws.glob("o/multirun/*/*/1/outputs.csv")), "exists and"),
    "a sweep's plan": (lambda ws: next(ws.glob("o/multirun/*/*/sweep.json")), "exists and is"),
    "a fifo": (_fifo, "is not a regular file"),
    "a link": (_link, "is a link"),
    "another page": (_not_a_report, "exists and is not a report fpexp wrote"),
}


@pytest.mark.parametrize("target", TARGETS)
def test_output_never_replaces_what_is_not_an_earlier_report(made, tmp_path, target):
    ws = tmp_path / "ws"
    shutil.copytree(made["ws"], ws, symlinks=True)
    make, why = TARGETS[target]
    path = make(ws)
    before = path.lstat()
    data = path.read_bytes() if path.is_file() and not path.is_symlink() else None
    done = call_fpexp(["report", "o", "-o", str(path)], ws)
    assert done.returncode == 2 and done.stdout == "", done.stdout
    assert done.stderr.startswith(f"fpexp: error: --output: {path}: {why}")
    after = path.lstat()
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert data is None or path.read_bytes() == data


def test_a_link_planted_under_the_temporary_name_is_not_written_through(made, tmp_path):
    import fpexp.atomic

    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    out = made["ws"] / "planted.html"
    fpexp.atomic.temporary(out).symlink_to(victim)  # this process's temporary name
    done = call_fpexp(["report", "o", "-o", str(out)], made["ws"])
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "mine" and not out.is_symlink()
    assert GENERATOR in out.read_text()
    out.unlink()


EXTREMES = {  # found by a hostile review: each made report crash with a traceback
    "inf in a list": ({"vec": [1e999]}, {"vec": [1.0]}),
    "an integer beyond floats": ({"big": 10**400}, {"big": 1}),
    "a range beyond floats": ({"accuracy": 1.7e308}, {"accuracy": -1.7e308}),
    "a range below float resolution": ({"accuracy": 0.0}, {"accuracy": 5e-324}),
    "infinite": ({"accuracy": 1e999}, {"accuracy": -1e999}),
}


@pytest.mark.parametrize("case", EXTREMES)
def test_extreme_values_are_reported_and_strict_json_everywhere(made, tmp_path, case):
    copy = tmp_path / "o" / "sweep"
    shutil.copytree(made["a"], copy)
    for job, metrics in zip(("0", "1"), EXTREMES[case], strict=True):
        path = copy / job / "run.json"
        rec = json.loads(path.read_text())
        rec["metrics"].update(metrics)
        path.write_text(json.dumps(rec))
    done = call_fpexp(["report", str(copy), "-o", str(tmp_path / "r.html")], tmp_path)
    assert done.returncode == 0, done.stderr
    html = (tmp_path / "r.html").read_text()
    assert 'data-n="inf"' not in html and 'data-n="nan"' not in html

    def refuse(constant: str):
        raise AssertionError(f"not strict JSON: {constant}")

    for args in (["runs", str(copy), "--json"], ["compare", str(copy), "--json"]):
        listed = call_fpexp(args, tmp_path)
        assert listed.returncode == 0, listed.stderr
        json.loads(listed.stdout, parse_constant=refuse)


def test_writes_the_page_and_says_what_it_holds(made):
    (made["ws"] / "r.html").write_text(f"<!DOCTYPE html>{GENERATOR}")  # an earlier report
    done = call_fpexp(["report", "o", "-o", "r.html"], made["ws"])
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(
        r"wrote r\.html \(\d+ KiB\): 10 runs, swept: task\.kind, model\.hidden, model\.width, "
        r"model\.activation, seed, \d+ plots\n",
        done.stdout,
    )
    (made["ws"] / "r.html").unlink()


def test_help_comes_from_the_parser(made):
    done = call_fpexp(["report", "--help"], made["ws"])
    assert done.returncode == 0
    for part in ("usage: fpexp report", "-o FILE, --output FILE", "--where EXPR", "SWEEP_DIR"):
        assert part in done.stdout


@pytest.mark.slow
def test_the_page_in_headless_chromium(made, tmp_path):
    """Chromium loads the file from disk; the table, sorting, filtering, the layer selector and
    the charts work, a hostile record stays text, nothing is logged as an error."""
    exe = chromium()  # fails (not skips) where chromium is missing: CI installs it
    copy = _hostile_copy(made, tmp_path)
    done = call_fpexp(["report", str(copy), str(made["b"]), "-o", "r.html"], tmp_path)
    assert done.returncode == 0, done.stderr
    with Browser(exe, tmp_path / "profile") as browser:
        browser.open(tmp_path / "r.html")
        js = browser.evaluate
        assert js("document.querySelectorAll('#runs tbody tr').length") == 10
        assert js("document.scripts.length") == 2 and js("document.images.length") == 0
        assert js("document.querySelectorAll('#plots svg.plot').length") > 20
        assert js("document.querySelectorAll('#plots svg.plot path.line').length") > 40
        head = "Array.from(document.querySelectorAll('#runs th')).map(t => t.textContent)"
        col = js(head).index("metrics.accuracy")
        rows = "Array.from(document.querySelectorAll('#runs tbody tr'))"
        cells = f"{rows}.map(r => r.cells[{col}].textContent)"
        click = f"document.querySelectorAll('#runs th button')[{col}].click()"
        js(click)
        up = [float(v) for v in js(cells)]
        js(click)
        down = [float(v) for v in js(cells)]
        assert up == sorted(up) and down == sorted(up, reverse=True)
        js("const f = document.getElementById('filter'); f.value = 'tanh';"
           "f.dispatchEvent(new Event('input'))")  # fmt: skip
        shown = "Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => !r.hidden)"
        assert js(f"{shown}.length") == 2
        assert js("document.getElementById('count').textContent") == "2 of 10 runs"
        js("const s = document.getElementById('layer-run'); s.selectedIndex = 3;"
           "s.dispatchEvent(new Event('change'))")  # fmt: skip
        views = "Array.from(document.querySelectorAll('.layer-view')).filter(v => !v.hidden)"
        assert js(f"{views}.length") == 1
        assert js(f"{views}[0].dataset.run") == js("document.getElementById('layer-run').value")
        assert js(f"{views}[0].querySelectorAll('path.line').length") == 5
        link = "document.querySelector('#runs tbody a')"
        target = js(f"{link}.getAttribute('href')")
        js(f"{link}.click()")  # the run's record opens
        wait = "new Promise(done => setTimeout(() => done(document.querySelector('{}').open), 100))"
        assert js(wait.format(target)) is True
        js("document.getElementById('filter').value = ''; "
           "document.getElementById('filter').dispatchEvent(new Event('input'))")  # fmt: skip
        ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
        ARTIFACT.write_bytes(browser.screenshot())
        assert browser.errors() == []
        assert browser.requests() == [(tmp_path / "r.html").as_uri()]  # nothing else fetched
