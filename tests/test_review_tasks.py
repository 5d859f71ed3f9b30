"""Hostile review of issue 10's task side: someone else's record in ``fpexp runs``, numeric
label column names in a list, the help text's one-line summaries, and what the head registry
registers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fpexp import cli
from fpexp.config.help import _summary, group_options, groups_text
from fpexp.data.columns import label_problems
from fpexp.heads import Head, heads

HERE = Path(__file__).resolve().parent
BASE = ["data=synthetic", "data.n_rows=4", "model.hidden=[2]"]


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "base"
    assert cli.main([*BASE, f"hydra.run.dir={out}"]) == 0
    return out


# -- fpexp runs: a record's config values are shown, never run into a traceback or a terminal


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("task.kind", ["x"], '["x"]'),
        ("task.kind", 7, "7"),
        ("model.activation", {"a": 1}, None),  # not a plain value: the record is unreadable
        ("model.activation", [1, 2], "[1,2]"),
        ("task.kind", "\x1b]0;owned\x07red", "\\x1b]0;owned\\x07red"),
        ("model.activation", "a\nb", "a\\nb"),
    ],
)
def test_runs_shows_any_recorded_task_or_activation_on_one_line(
    made, tmp_path, capsys, key, value, shown
):
    import shutil

    run = Path(shutil.copytree(made, tmp_path / "outputs" / "run"))
    data = json.loads((run / "run.json").read_text())
    section, leaf = key.split(".")
    data["config"][section][leaf] = value
    (run / "run.json").write_text(json.dumps(data))
    capsys.readouterr()
    columns = ["--columns", f"run,status,{key}"] if shown is not None else []  # else: no key
    assert cli.main(["runs", str(tmp_path / "outputs"), *columns]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 2, out
    assert "\x1b" not in out and "\x07" not in out
    if shown is not None:
        assert shown in lines[1]


# -- data.label: a number is a column name, in a list as on its own


def test_numbers_in_a_label_list_are_column_names_as_a_single_label_is():
    assert label_problems([1, 2]) == []
    assert label_problems(1) == []
    (problem,) = label_problems([1, True, None, 1.5, ""])
    assert problem.key == "data.label"
    assert "item 1 (True)" in problem.what and "item 2 (None)" in problem.what
    assert "item 3 (1.5)" in problem.what and "item 4 ('')" in problem.what
    assert "item 0" not in problem.what


def test_a_csv_with_numeric_label_headers_runs_multilabel_from_the_cli(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the rerun's directory
    (tmp_path / "t.csv").write_text("a,b,1,2\n0.1,0.2,0,1\n0.3,0.4,1,1\n")
    code = cli.main(
        [
            "task=multilabel",
            "task.out_features=2",
            "data=file",
            f"data.path={tmp_path / 't.csv'}",
            "data.label=[1,2]",
            f"hydra.run.dir={tmp_path / 'run'}",
        ]
    )
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["classes"] == {"names": ["1", "2"], "from": "the label columns"}
    assert (tmp_path / "run" / "predictions.csv").read_text().splitlines()[0] == '"id","1","2"'
    capsys.readouterr()
    assert cli.main(["rerun", str(tmp_path / "run"), "--check"]) == 0
    assert "reproduced: identical" in capsys.readouterr().out


# -- --help: each option's summary is one whole sentence, not a line cut mid-sentence


@pytest.mark.parametrize(
    "path", [p for options in group_options().values() for p in options], ids=lambda p: p.stem
)
def test_each_options_help_summary_does_not_run_on_into_the_next_comment_line(path):
    summary = _summary(path)
    assert summary, path
    comments = [ln.lstrip("#").strip() for ln in path.read_text().splitlines() if ln[:1] == "#"]
    after = comments[comments.index(summary) + 1 :]
    ended = summary.endswith((".", ")")) or not after or after[0].startswith("(")
    continues = not ended
    assert not continues, f"{path.name}: '{summary}' goes on with '{after[0]}'"
    assert summary in groups_text()


# -- the head registry: the heads of fpexp.heads, whatever else the process has imported


def test_a_head_subclass_outside_the_package_is_not_registered_and_breaks_nothing():
    heads.cache_clear()
    try:

        class Stray(Head):  # a user's, a test's or a plugin's module: not fpexp.heads
            kind = "stray"

        class Twin(Head):  # a second class for a packaged kind would make heads() raise
            kind = "binary"

        found = heads()
        assert "stray" not in found
        assert found["binary"].__module__ == "fpexp.heads.binary"
        assert all(c.__module__.startswith("fpexp.heads.") for c in found.values())
    finally:
        heads.cache_clear()


# -- a bad label's row is the file's row, also after data.nan=drop dropped rows before it

BAD_AFTER_DROP = {
    "multilabel": (
        "a,b,h,e\n0.1,0.2,1,0\n0.3,0.4,,1\n0.5,0.4,1,0\n0.5,0.4,2,0\n",
        ["task=multilabel", "task.out_features=2", "data.label=[h,e]"],
        "column 'h', row 4: 2.0 is not 0 or 1",
    ),
    "multiclass": (
        "a,b,h\n0.1,0.2,1\n0.3,0.4,\n0.5,0.4,1\n0.5,0.4,7\n",
        ["task=multiclass", "data.label=h"],
        "7.0 (row 4) is not a class index",
    ),
    "binary, a feature dropped": (
        "a,b,h\nnan,0.2,1\n0.3,0.4,1\n0.5,0.4,1\n0.5,0.4,7\n",
        ["task=binary", "data.label=h"],
        "7 (row 4) is not a class index",
    ),
}


@pytest.mark.parametrize("batch_size", [1, 2, 100])
@pytest.mark.parametrize("case", list(BAD_AFTER_DROP))
def test_a_bad_label_after_dropped_rows_names_its_row_in_the_file(
    tmp_path, capsys, case, batch_size
):
    text, overrides, what = BAD_AFTER_DROP[case]
    (tmp_path / "t.csv").write_text(text)
    args = [*overrides, "data=file", f"data.path={tmp_path / 't.csv'}", "data.nan=drop"]
    args += [f"batch_size={batch_size}", f"hydra.run.dir={tmp_path / 'run'}"]
    assert cli.main(args) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("fpexp: error: data.label: ") and what in line, line


def test_the_first_overflowing_row_is_its_row_in_the_file_after_dropped_rows(tmp_path, capsys):
    big = ",".join(["3e38"] * 6)
    (tmp_path / "t.csv").write_text(f"a,b,c,d,e,f\nnan,1,1,1,1,1\n1,1,1,1,1,1\n{big}\n")
    args = ["task=regression", "model.hidden=[8]", "seed=3", "data=file", "data.nan=drop"]
    args += [f"data.path={tmp_path / 't.csv'}", f"hydra.run.dir={tmp_path / 'run'}"]
    assert cli.main(args) == 0
    assert "(first: row 3, id 2)" in capsys.readouterr().out


# -- task.classes that name the label columns in another order: which output is which?


@pytest.mark.parametrize(
    ("classes", "refused"),
    [
        ("[flies,has_hair,lays_eggs]", ["flies", "has_hair", "lays_eggs"]),
        ("[lays_eggs,has_hair,wings]", ["lays_eggs", "has_hair"]),
        ("[has_hair,lays_eggs,flies]", []),  # the same order: no doubt
        ("[hair,eggs,fly]", []),  # other names: output j is label column j
    ],
)
def test_task_classes_naming_label_columns_in_another_order_are_refused(
    compose_cfg, classes, refused
):
    from fpexp.config.validate import check_config

    cfg = compose_cfg(
        "task=multilabel",
        "data=file",
        "data.path=x.csv",
        "data.label=[has_hair,lays_eggs,flies]",
        f"task.classes={classes}",
    )
    problems = [p for p in check_config(cfg) if p.key == "task.classes"]
    assert [p.what.split("'")[1] for p in problems] == refused
    for p in problems:
        assert "is label column" in p.what and "data.label's order" in p.allowed


# -- fpexp diff: nothing from a record reaches the terminal as a control character

HOSTILE = "\x1b]0;owned\x07\x1b[2J"


@pytest.mark.parametrize("fmt", ["text", "md", "overrides"])
def test_diff_prints_no_control_characters_from_a_record(made, tmp_path, capsys, fmt):
    import shutil

    run = Path(shutil.copytree(made, tmp_path / "outputs" / "run"))
    data = json.loads((run / "run.json").read_text())
    data["config"]["task"]["kind"] = f"binary{HOSTILE}\nenvironment: same"
    data["metrics"] = {f"acc{HOSTILE}": 1.0}
    (run / "run.json").write_text(json.dumps(data))
    capsys.readouterr()
    flag = [] if fmt == "text" else [f"--{fmt}"]
    assert cli.main(["diff", str(made), str(run), *flag]) == 0
    out = capsys.readouterr().out
    assert not any(not c.isprintable() and c != "\n" for c in out), repr(out)
    assert out.count("\nenvironment: same") == (fmt == "text")  # the real line, not a spoof


# -- a notebook: after a run, the process's logging is as it was before


def test_after_a_run_the_root_logger_no_longer_writes_into_its_fpexp_log(tmp_path, monkeypatch):
    import logging

    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    for args in ([*BASE, "hydra.run.dir=a"], ["-m", *BASE, "seed=1,2", "hydra.sweep.dir=s"]):
        assert cli.main(args) == 0
        assert (list(root.handlers), root.level) == before
    logging.getLogger("user").warning("a notebook's own message")
    for log in tmp_path.rglob("fpexp.log"):
        assert "a notebook's own message" not in log.read_text(), log


# -- a list of the wrong type: the example fits the list's items


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("task.classes=abc", "expected a list of strings (e.g. [no, yes]) or null"),
        ("model.hidden=abc", "expected a list of integers (e.g. [4, 8]) or null"),
    ],
)
def test_a_value_that_is_not_a_list_gets_an_example_of_the_right_list(
    tmp_path, capsys, override, expected
):
    assert cli.main([override, f"hydra.run.dir={tmp_path / 'run'}"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.endswith(f"({expected})"), line
