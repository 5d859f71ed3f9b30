"""``fpexp.yaml_read.safe_load`` is ``yaml.safe_load``: the same data or the same error, through
libyaml only where the two parsers agree."""

from __future__ import annotations

import random
import string
from pathlib import Path
from typing import Any

import pytest
import yaml

from fpexp import yaml_read
from fpexp.errors import UsageError


def _outcome(load: Any, text: str) -> tuple[str, Any]:
    try:
        return "ok", load(text)
    except RecursionError:
        return "RecursionError", None
    except yaml.YAMLError as err:
        return type(err).__name__, str(err)


def _same_as_pyyaml(text: str) -> None:
    assert _outcome(yaml_read.safe_load, text) == _outcome(yaml.safe_load, text)


SCALARS = [
    0, -7, 2**70, 1.5, -0.0, float("inf"), 1e-300, True, False, None, "", "yes", "no", "on",
    "null", "~", "1e3", "0x1F", "0o17", "012", "1_000", ".5", "+1", "2020-01-01",
    "2020-01-01 10:00:00", "${model.width}", "${fpexp.stamp:}", "a: b", "- x", "#no", "a #b",
    "[1, 2]", "{a: 1}", "'q'", '"d"', "tab\there", "line\nbreak", " lead", "trail ", "!tag",
    "&anchor", "*alias", "%", "@", "`", "|", ">", "?", "---", "...", "\\", "=", "a,b",
]  # fmt: skip


def _random_data(rng: random.Random, depth: int) -> Any:
    kind = rng.random()
    if depth <= 0 or kind < 0.4:
        if rng.random() < 0.3:
            return "".join(rng.choice(string.printable) for _ in range(rng.randrange(12)))
        return rng.choice(SCALARS)
    if kind < 0.7:
        return [_random_data(rng, depth - 1) for _ in range(rng.randrange(5))]
    keys = [rng.choice([*SCALARS[:12], "a", "b.c", "hydra", "x y"]) for _ in range(4)]
    return {k if isinstance(k, (str, int, bool)) else str(k): _random_data(rng, depth - 1)
            for k in keys}  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
def test_random_documents_load_as_pyyaml_loads_them(seed: int) -> None:
    rng = random.Random(seed)
    data = _random_data(rng, 6)
    for flow in (False, True, None):
        text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=False)
        _same_as_pyyaml(text)
        if seed % 4 == 0:  # broken: a line dropped, a character changed
            lines = text.splitlines(keepends=True)
            if len(lines) > 1:
                del lines[rng.randrange(len(lines))]
            _same_as_pyyaml("".join(lines))
            at = rng.randrange(len(text))
            _same_as_pyyaml(text[:at] + rng.choice(":-[]{},&*!|>'\"#%@` \t") + text[at + 1 :])


def test_a_runs_and_a_sweeps_files_load_as_pyyaml_loads_them(tmp_path: Path) -> None:
    import fpexp

    sweep = fpexp.sweep("model.hidden=[2],[3]", "task=multiclass", root=tmp_path)
    files = [sweep.dir / "multirun.yaml", *sorted(sweep.dir.glob("*/.hydra/*.yaml"))]
    assert len(files) == 7
    for path in files:
        text = path.read_text()
        assert yaml_read._PLAIN_ASCII.fullmatch(text), path  # the fast path's kind of text
        assert yaml_read.safe_load(text) == yaml.safe_load(text)


def test_the_fast_parser_reads_plain_text_and_pyyaml_the_rest(monkeypatch) -> None:
    """libyaml for ASCII text of ordinary depth and size; PyYAML's own for what it may read
    otherwise: other text, deep nesting, alias trees, and what libyaml refuses."""
    pure, used = yaml.safe_load, []
    monkeypatch.setattr(yaml, "safe_load", lambda text: used.append(text) or pure(text))
    ordinary = "a: 1\nb: [x, '${c}']\nc: {d: null}\n"
    assert yaml_read.safe_load(ordinary) == {"a": 1, "b": ["x", "${c}"], "c": {"d": None}}
    deep = "a: " + "[" * 100 + "]" * 100  # libyaml's and PyYAML's (1000 frames) limits allow
    aliases = "a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n" + "".join(
        f"{k}: &{k} [{', '.join(['*' + p] * 10)}]\n" for p, k in zip("abcd", "bcde", strict=True)
    )  # 10^5 leaves: a tree of 11,111 lists, within the limits; one level more is not
    wide = aliases + "f: [" + ", ".join(["*e"] * 10) + "]\n"
    refused = "a: b: c\n"  # an error: PyYAML's message, not libyaml's
    for text in ("a: é\n", "a: \x85\n", "\ufeffa: 1\n", deep, wide, refused):
        used.clear()
        assert _outcome(yaml_read.safe_load, text) == _outcome(pure, text)
        assert used == [text], text[:20]
    used.clear()
    assert yaml_read.safe_load(aliases) == pure(aliases) and used == []


def test_nesting_pyyaml_cannot_read_is_still_an_error() -> None:
    """libyaml reads 500 nested mappings; PyYAML's recursion does not: the result is PyYAML's."""
    text = "".join(" " * i + f"k{i}:\n" for i in range(500)) + " " * 500 + "v\n"
    assert yaml.load(text, Loader=yaml.CSafeLoader)  # what the fast path alone would return
    with pytest.raises(RecursionError):
        yaml_read.safe_load(text)


@pytest.mark.parametrize(
    "text, why",
    [
        ("a: [1, 2\n", "unreadable (while parsing a flow sequence)"),
        ("a: !!python/object:os.system x\n", "unreadable (could not determine a constructor"),
        ("a: " + "[" * 1000 + "]" * 1000, "unreadable (nested too deeply)"),
        ("a: b: c\n", "unreadable (mapping values are not allowed here)"),
    ],
    ids=["unclosed", "object tag", "deep", "mapping in a value"],
)
def test_an_unreadable_file_is_one_problem_naming_it(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(UsageError) as err:
        yaml_read.read_yaml(path, "run/.hydra/config.yaml")
    (problem,) = err.value.problems
    assert problem.key == "run/.hydra/config.yaml" and problem.what.startswith(why), problem
