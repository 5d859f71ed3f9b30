"""``fpexp compare REF...`` and ``fpexp.compare``: runs and sweeps' jobs in one table, the
config keys that differ among them, metrics, output statistics, and for two runs what ``fpexp
diff`` says of their outputs; driven in-process on real runs of two sweeps and two single runs."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import call_fpexp

import fpexp
from fpexp.catalog import load_run
from fpexp.run_table import cell
from fpexp.sweep_jobs import LINKED_JOB

BINARY_METRICS = [f"metrics.{k}" for k in ("n", "accuracy", "bce", "tp", "fp", "tn", "fn")]
BINARY_STATS = ["outputs.mean[mammal]", "outputs.std[mammal]"]
BINARY_STATS += ["predicted.n[not_mammal]", "predicted.n[mammal]"]
BIRDS = ("bird", "reptile")  # multiclass columns besides mammal
FAILED = "model.hidden[0]: width 0 is not positive (integers >= 1)"
NO_OUTPUTS = "neither run has outputs"  # job 1 failed before writing any
TOO_FEW = "(two runs or more, or a sweep with two jobs)"


@dataclass(frozen=True)
class World:
    cwd: Path  # where the CLI runs: runs are shown as outputs/...
    a: fpexp.Sweep  # model.hidden=[2],[4] x seed=1,2
    b: fpexp.Sweep  # model.hidden=[2],[0] seed=5: job 1 fails
    one: fpexp.Run  # seed=1 model.hidden=[8]
    multi: fpexp.Run  # task=multiclass seed=1 model.hidden=[8]

    def ref(self, what: fpexp.Run | fpexp.Sweep, job: int | None = None) -> str:
        text = str(what.dir.relative_to(self.cwd))
        return text if job is None else f"{text}:{job}"

    def job(self, sweep: fpexp.Sweep, job: int) -> str:
        return f"{self.ref(sweep)}/{job}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    cwd = tmp_path_factory.mktemp("compare")
    root = cwd / "outputs"
    a = fpexp.sweep("model.hidden=[2],[4]", "seed=1,2", root=root)
    b = fpexp.sweep("model.hidden=[2],[0]", "seed=5", root=root)
    one = fpexp.run("seed=1", "model.hidden=[8]", root=root)
    multi = fpexp.run("task=multiclass", "seed=1", "model.hidden=[8]", root=root)
    return World(cwd, a, b, one, multi)


def cli(world: World, *args: str, cwd: Path | None = None):
    return call_fpexp(["compare", *args], cwd or world.cwd)


def as_json(world: World, *refs: str) -> dict:
    done = cli(world, "--json", *refs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_sweeps_and_runs_mixed_each_job_in_job_order(world):
    w = world
    found = as_json(w, w.ref(w.a), w.ref(w.one), w.ref(w.b), w.ref(w.multi))
    runs = [r["run"] for r in found["runs"]]
    expected = [w.job(w.a, n) for n in range(4)] + [w.ref(w.one)]
    expected += [w.job(w.b, 0), w.job(w.b, 1), w.ref(w.multi)]
    assert runs == expected
    assert [r["status"] for r in found["runs"]] == ["completed"] * 6 + ["failed", "completed"]
    assert [r.get("note") for r in found["runs"]] == [None] * 6 + [FAILED, None]
    assert found["diff"] is None and found["notes"] == []


@pytest.mark.parametrize(
    ("refs", "differ"),
    [
        ((("a", 0), ("a", 2), ("one", None)), ["model.hidden"]),  # seed=1 in all three
        ((("a", None),), ["model.hidden", "seed"]),
        ((("a", 0), ("b", 0)), ["seed"]),  # model.hidden=[2] in both
        ((("a", 1), ("a", 3)), ["model.hidden"]),
    ],
)
@pytest.mark.parametrize("form", ["table", "json", "csv", "md"])
def test_columns_are_only_the_keys_that_differ_among_these_runs(world, refs, differ, form):
    args = [world.ref(getattr(world, name), job) for name, job in refs]
    done = cli(world, *args, *([f"--{form}"] if form != "table" else []))
    assert done.returncode == 0, done.stderr
    out = done.stdout
    if form == "json":
        header = list(json.loads(out)["runs"][0])
    elif form == "csv":
        header = next(csv.reader(io.StringIO(out)))
    elif form == "md":
        header = [c.strip() for c in out.splitlines()[0].strip("|").split("|")]
    else:
        header = out.splitlines()[0].split()
    assert header == ["run", "status", *differ, *BINARY_METRICS, *BINARY_STATS]


def test_a_key_constant_among_the_compared_runs_varies_across_the_root(world):
    """The contrast to the test above: seed differs among the runs under the root."""
    listed = json.loads(call_fpexp(["runs", "--json"], world.cwd).stdout)
    assert "seed" in listed[0] and len({r["seed"] for r in listed}) == 3


def _stats(run_dir: Path) -> dict[str, float]:
    """The output statistics, from the run's output and prediction tables with numpy."""
    run = fpexp.load(run_dir)
    names = run.table("outputs").column_names[1:]
    values = run.outputs().astype(np.float64)
    found = {f"outputs.mean[{n}]": np.mean(values[:, i]) for i, n in enumerate(names)}
    found |= {f"outputs.std[{n}]": np.std(values[:, i]) for i, n in enumerate(names)}
    classes = run.record["classes"]["names"]
    counts = Counter(run.table("predictions").column("prediction").to_pylist())
    found |= {f"predicted.n[{c}]": counts.get(i, 0) for i, c in enumerate(classes)}
    return found


def test_output_statistics_are_those_of_the_runs_outputs(world):
    w = world
    found = as_json(w, w.ref(w.a), w.ref(w.one), w.ref(w.multi))
    names = {k for row in found["runs"] for k in row if k.startswith(("outputs.", "predicted."))}
    more = [f"{s}[{c}]" for s in ("outputs.mean", "outputs.std", "predicted.n") for c in BIRDS]
    assert names == {*BINARY_STATS, *more}
    for row in found["runs"]:
        expected = _stats(w.cwd / row["run"])
        got = {k: v for k, v in row.items() if k in names and v is not None}
        assert got == pytest.approx(expected, rel=1e-6, abs=1e-9), row["run"]


def _diff_lines(world: World, a: str, b: str) -> list[str]:
    """``fpexp diff A B``'s a:, b: and outputs lines."""
    lines = call_fpexp(["diff", a, b], world.cwd).stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("outputs"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("  "))
    return lines[:2] + lines[start:end]


def _diff_markdown(world: World, a: str, b: str) -> list[str]:
    lines = call_fpexp(["diff", "--md", a, b], world.cwd).stdout.splitlines()
    start = lines.index("### Outputs") + 2
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("### "))
    return lines[start : end - 1]


PAIRS = [
    (("a", 0), ("a", 1)),  # same shape: max abs diff, no flips
    (("a", 3), ("one", None)),  # a flipped prediction
    (("a", 0), ("multi", None)),  # shapes differ: not compared
]


@pytest.mark.parametrize(("x", "y"), PAIRS)
def test_two_runs_add_what_diff_says_of_their_outputs(world, x, y):
    a, b = (world.ref(getattr(world, name), job) for name, job in (x, y))
    expected = json.loads(call_fpexp(["diff", "--json", a, b], world.cwd).stdout)
    found = as_json(world, a, b)
    assert found["diff"] == {k: expected[k] for k in ("a", "b", "outputs")}
    text = cli(world, a, b).stdout.split("\n\n", 1)[1].splitlines()
    assert text == _diff_lines(world, a, b)
    md = cli(world, "--md", a, b).stdout.splitlines()
    heading = md.index(f"### Outputs: `{expected['a']}` → `{expected['b']}`")
    assert md[heading + 2 :] == _diff_markdown(world, a, b)
    assert len(cli(world, "--csv", a, b).stdout.splitlines()) == 3  # the table only


def test_every_format_holds_the_same_values(world):
    w = world
    refs = [w.ref(w.a), w.ref(w.one), w.ref(w.b)]
    rows = as_json(w, *refs)["runs"]
    keys = list(rows[0])
    table = list(csv.DictReader(io.StringIO(cli(w, "--csv", *refs).stdout)))
    assert [list(r) for r in table] == [keys] * len(rows)
    for got, row in zip(table, rows, strict=True):
        for key, value in row.items():
            if value is None:
                assert got[key] == ""
            elif isinstance(value, str):
                assert got[key] == value
            else:
                assert json.loads(got[key]) == value
    md = cli(w, "--md", *refs).stdout.splitlines()
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in md]
    assert cells[0] == keys and len(cells) == 2 + len(rows)
    assert cells[2:] == [[cell(k, r.get(k)) for k in keys] for r in rows]
    text = cli(w, *refs).stdout.splitlines()
    assert [line.split()[:2] for line in text[1:]] == [[r["run"], r["status"]] for r in rows]


def test_bad_references_are_all_reported_at_once(world, tmp_path):
    w = world
    broken = tmp_path / "broken"
    shutil.copytree(w.one.dir, broken)
    (broken / "run.json").write_text("{not json")
    why = load_run(broken).problem
    refs = ["nope", "@-99", f"{w.ref(w.a)}:x", "outputs", str(broken), w.ref(w.one)]
    done = cli(w, "--root", "empty", *refs)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        "fpexp: error: nope: no such run (no runs under empty)",
        "fpexp: error: @-99: there are only 0 runs (no runs under empty)",
        f"fpexp: error: {w.ref(w.a)}:x: 'x' is not a job number"
        " (a path, @latest, @-N with N >= 1, or SWEEP_DIR:JOB)",
        "fpexp: error: outputs: is neither a run nor a sweep directory (no run.json, no"
        " multirun.yaml) (a run directory, @latest, @-N, SWEEP_DIR:JOB, or a sweep directory)",
        f"fpexp: error: {broken}: unreadable run: {why}",
    ]
    with pytest.raises(fpexp.UsageError) as err:
        fpexp.compare("nope", str(broken), root=tmp_path / "empty")
    assert [str(p) for p in err.value.problems] == [
        f"nope: no such run (no runs under {tmp_path / 'empty'})",
        f"{broken}: unreadable run: {why}",
    ]


@pytest.mark.parametrize(
    "refs",
    [
        [("one", None)],
        [("one", None), ("one", None)],
        [("a", 1), ("a/1", None)],  # one run named two ways
    ],
)
def test_fewer_than_two_runs_is_one_line(world, refs):
    args = [
        world.ref(getattr(world, name), job) if "/" not in name else world.job(world.a, 1)
        for name, job in refs
    ]
    done = cli(world, *args)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [
        f"fpexp: error: REF: 1 run to compare ({', '.join(args)}) {TOO_FEW}"
    ]


def test_a_run_named_twice_is_listed_once_and_said_so(world):
    w = world
    refs = [w.ref(w.a), w.ref(w.a, 1), w.ref(w.one), str(w.one.dir)]
    done = cli(w, "--json", *refs)
    found = json.loads(done.stdout)
    assert [r["run"] for r in found["runs"]] == [w.job(w.a, n) for n in range(4)] + [w.ref(w.one)]
    notes = [
        f"{w.job(w.a, 1)}: named 2 times (by {w.ref(w.a)}, {w.ref(w.a, 1)}): listed once",
        f"{w.ref(w.one)}: named 2 times (by {w.ref(w.one)}, {w.one.dir}): listed once",
    ]
    assert found["notes"] == notes
    assert done.stderr.splitlines() == [f"note: {n}" for n in notes]


def _not_run(job: Path) -> None:
    shutil.rmtree(job)


def _no_record(job: Path) -> None:
    (job / "run.json").unlink()


def _linked(job: Path) -> None:
    shutil.rmtree(job)
    job.symlink_to(job.parent / "1")


@pytest.mark.parametrize(
    ("damage", "status", "note", "reason"),
    [
        (_not_run, "not run", "the job never started", NO_OUTPUTS),
        (_no_record, "failed", "the job stopped before run.json", NO_OUTPUTS),
        (_linked, "unreadable", LINKED_JOB, f"run A is unreadable: {LINKED_JOB}"),
    ],
)
def test_a_sweeps_jobs_without_a_record_are_listed_with_their_status(
    world, tmp_path, damage, status, note, reason
):
    sweep = tmp_path / "sweep"
    shutil.copytree(world.b.dir, sweep, symlinks=True)
    damage(sweep / "0")
    done = cli(world, "--json", str(sweep), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert [(r["run"], r["status"], r.get("note")) for r in found["runs"]] == [
        ("sweep/0", status, note),
        ("sweep/1", "failed", FAILED),
    ]
    assert found["diff"]["outputs"] == {"comparable": False, "reason": reason}
    text = cli(world, str(sweep), cwd=tmp_path).stdout
    assert f"outputs: not compared: {reason}\n" in text and f"sweep/0  {status}" in text


def test_columns_and_all(world):
    w = world
    refs = [w.ref(w.a), w.ref(w.multi)]
    picked = as_json(w, "--columns", "run,when,seed,outputs.mean[bird]", *refs)["runs"]
    assert list(picked[0]) == ["run", "started_at", "seed", "outputs.mean[bird]"]
    assert [r["outputs.mean[bird]"] is None for r in picked] == [True] * 4 + [False]
    every = list(as_json(w, "--all", *refs)["runs"][0])
    stats = [i for i, k in enumerate(every) if k.startswith(("outputs.", "predicted."))]
    metrics = [i for i, k in enumerate(every) if k.startswith("metrics.")]
    results = [i for i, k in enumerate(every) if k.startswith("results.")]
    assert every[:3] == ["started_at", "run", "status"] and "duration_s" in every
    assert max(metrics) < min(stats) and max(stats) < min(results)
    assert stats == list(range(min(stats), max(stats) + 1))
    bad = cli(w, "--columns", "run,sed", *refs)
    assert bad.returncode == 2 and bad.stderr.splitlines() == [
        "fpexp: error: --columns: no listed run has the key 'sed' (did you mean seed?)"
    ]


def test_the_api_returns_what_json_prints(world, monkeypatch):
    w = world
    monkeypatch.chdir(w.cwd)
    expected = as_json(w, w.ref(w.a), w.ref(w.a, 0), w.ref(w.one))
    assert fpexp.compare(w.a, w.a.runs[0], w.one.dir, root="outputs") == {
        **expected,
        "notes": [f"{w.job(w.a, 0)}: named 2 times (by {w.a.dir}, {w.a.runs[0].dir}): listed once"],
    }
    pair = fpexp.compare(w.ref(w.a, 0), "@latest", root="outputs", columns=["run", "seed"])
    assert pair["runs"] == [{"run": w.job(w.a, 0), "seed": 1}, {"run": w.ref(w.multi), "seed": 1}]
    assert pair["diff"]["outputs"]["reason"].startswith("shapes differ")
    with pytest.raises(fpexp.UsageError) as err:
        fpexp.compare(w.one, 3)
    assert [str(p) for p in err.value.problems] == [
        "3: not a run reference but a int (a Run, a Sweep, a path, @latest, @-N or SWEEP_DIR:JOB)"
    ]


def test_no_api_name_is_a_submodule_that_an_import_would_put_in_its_place():
    """``import fpexp.X`` sets the package's attribute X to the module: an API name that is
    also a submodule (fpexp/compare.py was diff's) would stop being the API's function."""
    import fpexp.commands.compare
    import fpexp.run_compare
    import fpexp.run_diff

    for name in fpexp.__all__:
        assert importlib.util.find_spec(f"fpexp.{name}") is None, name
    assert callable(fpexp.compare) and fpexp.compare.__module__ == "fpexp.api_compare"
    assert os.path.basename(fpexp.run_compare.__file__) == "run_compare.py"


@pytest.mark.parametrize("command", ["compare", "diff"])
@pytest.mark.parametrize("ref", ["a" * 5000, "a" * 5000 + ":3"])
def test_a_reference_too_long_for_a_file_name_is_no_such_run(world, command, ref):
    """Found while testing compare: the OS's "file name too long" was a traceback (also in
    diff, through ``catalog.resolve``)."""
    done = call_fpexp([command, "--root", "empty", ref, world.ref(world.one)], world.cwd)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.splitlines() == [f"fpexp: error: {ref}: no such run (no runs under empty)"]


@pytest.mark.parametrize("form", ["table", "md"])
def test_names_and_values_from_a_record_print_as_escapes(world, tmp_path, form):
    """A record is untrusted: a key or value holding terminal escapes is shown escaped, and
    the table stays aligned."""
    hostile, plain = tmp_path / "hostile", tmp_path / "plain"
    shutil.copytree(world.one.dir, hostile)
    shutil.copytree(world.one.dir, plain)
    record = json.loads((hostile / "run.json").read_text())
    record["config"]["seed"] = "\x1b[2J"
    record["results"]["output_mean"] = {"ma\x1b[31mmal": 0.5}
    (hostile / "run.json").write_text(json.dumps(record))
    done = cli(world, *([f"--{form}"] if form != "table" else []), "hostile", "plain", cwd=tmp_path)
    assert done.returncode == 0 and "\x1b" not in done.stdout
    lines = done.stdout.splitlines()
    assert "outputs.mean[ma\\x1b[31mmal]" in lines[0] and "\\x1b[2J" in lines[1 + (form == "md")]
    if form == "table":
        at = lines[0].index("outputs.mean[mammal]")
        assert lines[2][at:].split()[0] == cell(
            "", world.one.record["results"]["output_mean"]["mammal"]
        )
