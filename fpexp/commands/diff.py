"""``fpexp diff A B``: what changed between two runs (config, inputs, outputs, environment).

Records are untrusted: an unreadable run or output table is one line (exit 2), and files
changed since their run (outputs, input, model.weights, .hydra/config.yaml) are named."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from fpexp.catalog import DEFAULT_ROOT, Run, resolve, shown
from fpexp.commands import Parser
from fpexp.errors import Problem, UsageError
from fpexp.integrity import changes_since
from fpexp.overrides import flatten, pin_overrides, render
from fpexp.run_diff import (
    config_changes,
    environment_changes,
    group_changes,
    input_changes,
    is_empty,
    metric_changes,
    output_changes,
)


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="fpexp diff", description=__doc__.split(": ", 1)[1].split("\n")[0])
    p.add_argument("a", help="run: a path, @latest, @-N or SWEEP_DIR:JOB")
    p.add_argument("b", help="the other run")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_const", dest="format", const="json")
    fmt.add_argument("--md", action="store_const", dest="format", const="md")
    fmt.add_argument(
        "--overrides",
        action="store_const",
        dest="format",
        const="overrides",
        help="the Hydra overrides that turn A's config into B's (for fpexp rerun A ...)",
    )
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="where @latest looks (./outputs)")
    return p


def diff_runs(a: Run, b: Run) -> dict[str, Any]:
    """Everything that differs; ``UsageError`` naming an output table that cannot be read."""
    outputs = output_changes(a.path, a.record, b.path, b.record)
    if "unreadable" in outputs:
        run = a if outputs["unreadable"] == "A" else b
        raise UsageError([Problem(shown(run.path), outputs["reason"].split(": ", 1)[1])])
    plain = a.status == b.status == "completed"
    since = {k: lines for k, run in (("a", a), ("b", b)) if (lines := changes_since(run))}
    return {
        "a": shown(a.path),
        "b": shown(b.path),
        "status": {} if plain else {"a": a.status_note(), "b": b.status_note()},
        "changed_since": since,
        "groups": group_changes(a.choices, b.choices),
        "config": config_changes(a.record.get("config") or {}, b.record.get("config") or {}),
        "inputs": input_changes(a.record, b.record),
        "metrics": metric_changes(a.record, b.record),
        "outputs": outputs,
        "environment": environment_changes(a.record, b.record),
    }


def as_json(d: dict[str, Any]) -> dict[str, Any]:
    """What ``fpexp diff --json`` prints (and ``fpexp.diff`` returns): ``diff_runs``'s
    result with ``empty`` (no difference at all)."""
    return {**d, "empty": is_empty(d)}


def overrides_between(a: Run, b: Run) -> list[str]:
    """Overrides that, applied to A's config by ``rerun``, give exactly B's config."""
    from omegaconf import OmegaConf

    from fpexp.config.compose import compose_config
    from fpexp.replay import refuse_unknown_choices

    for run in (a, b):
        refuse_unknown_choices(run.choices, shown(run.path / "run.json"))
    groups = [f"{g['group']}={g['b']}" for g in group_changes(a.choices, b.choices) if g["b"]]
    skip = {g.split("=")[0] for g in groups}
    base = compose_config(pin_overrides(a.portable_config(), a.choices, skip) + groups)
    have = flatten(OmegaConf.to_container(base, resolve=False))
    want = flatten(b.composed_config())
    values = [f"{k}={render(v)}" for k, v in want.items() if k not in have or have[k] != v]
    return groups + values


def _v(value: Any) -> str:
    """A value from a record (untrusted: newlines, terminal escapes) as printable text."""
    from fpexp.summary import printable

    return json.dumps(value) if not isinstance(value, str) else printable(value)


def _shown(text: str) -> str:
    """Every line printable: a record's keys, column names and ids escaped as ``\\xNN``."""
    from fpexp.summary import printable

    return "".join(printable(line) + "\n" for line in text.splitlines())


def to_text(d: dict[str, Any]) -> str:
    if is_empty(d):
        return f"no differences between {d['a']} and {d['b']}\n"
    lines = [f"a: {d['a']}", f"b: {d['b']}", ""]
    if d["status"]:
        lines.append(f"status: a {d['status']['a']}; b {d['status']['b']}")
    for which, found in d["changed_since"].items():
        lines.append(f"{which} changed since its run:")
        lines += [f"  {line}" for line in found]
    cfg = d["config"]
    n = len(d["groups"]) + sum(len(v) for v in cfg.values())
    lines.append(f"config ({n} changes):" if n else "config: same")
    lines += [f"  {g['group']}: {g['a']} → {g['b']}   (config group)" for g in d["groups"]]
    lines += [f"  {c['key']}: {_v(c['a'])} → {_v(c['b'])}" for c in cfg["changed"]]
    lines += [f"  + {c['key']}: {_v(c['b'])}" for c in cfg["added"]]
    lines += [f"  - {c['key']}: {_v(c['a'])}" for c in cfg["removed"]]
    lines += output_lines(d["outputs"])
    for title, changes in (("input and weights", d["inputs"]), ("metrics", d["metrics"])):
        if changes:
            lines.append(f"{title}:")
            lines += [f"  {c['key']}: {_v(c['a'])} → {_v(c['b'])}" for c in changes]
    env = d["environment"]
    lines.append("environment: same" if not env else "environment:")
    lines += [f"  {e['key']}: {_v(e['a'])} → {_v(e['b'])}" for e in env]
    return "\n".join(lines) + "\n"


def output_lines(outs: dict[str, Any]) -> list[str]:
    """What ``to_text`` says about the outputs (``output_changes``'s result); also
    ``fpexp compare``'s with two runs."""
    if not outs["comparable"]:
        return [f"outputs: not compared: {outs['reason']}"]
    lines = [f"outputs {outs['shape']}:"]
    for name, c in outs["columns"].items():
        verdict = "identical" if c["identical"] else "allclose" if c["allclose"] else "differ"
        lines.append(f"  {name}: max abs diff {c['max_abs_diff']:.6g} ({verdict})")
    if "flipped" in outs:
        lines.append(f"  predictions flipped: {_flips(outs)}")
    return lines


def output_markdown(outs: dict[str, Any]) -> list[str]:
    """The lines of ``to_markdown``'s Outputs section (after its heading)."""
    if not outs["comparable"]:
        return [f"Not compared: {outs['reason']}."]
    lines = ["| output | max abs diff | allclose | identical |", "|---|---|---|---|"]
    for name, c in outs["columns"].items():
        lines.append(f"| {name} | {c['max_abs_diff']:.6g} | {c['allclose']} | {c['identical']} |")
    if "flipped" in outs:
        lines += ["", f"Predictions flipped: {_flips(outs)}"]
    return lines


def _flips(outs: dict[str, Any]) -> str:
    """``3 (dog, eagle, snake)``; past the shown ids, ``... and N more``."""
    count, shown_ids = outs["flipped_count"], outs["flipped"]
    if not count:
        return "0"
    more = f", ... and {count - len(shown_ids)} more" if count > len(shown_ids) else ""
    return f"{count} ({', '.join(shown_ids)}{more})"


def _md_cell(value: Any) -> str:
    return f"`{_v(value)}`".replace("|", "\\|")


def to_markdown(d: dict[str, Any]) -> str:
    lines = [f"## `{d['a']}` → `{d['b']}`", ""]
    if d["status"]:
        lines += [f"Status: a {d['status']['a']}; b {d['status']['b']}", ""]
    for which, found in d["changed_since"].items():
        lines += [f"Changed since run {which}'s record:", ""]
        lines += [f"- {line}" for line in found] + [""]
    rows = [(g["group"] + " (group)", g["a"], g["b"]) for g in d["groups"]]
    cfg = d["config"]
    rows += [(c["key"], c["a"], c["b"]) for c in cfg["changed"]]
    rows += [(c["key"], None, c["b"]) for c in cfg["added"]]
    rows += [(c["key"], c["a"], None) for c in cfg["removed"]]
    lines += ["### Config", ""]
    if rows:
        lines += ["| key | a | b |", "|---|---|---|"]
        lines += [f"| {k} | {_md_cell(a)} | {_md_cell(b)} |" for k, a, b in rows]
    else:
        lines.append("No changes.")
    lines += ["", "### Outputs", "", *output_markdown(d["outputs"])]
    for title, changes in (("Input and weights", d["inputs"]), ("Metrics", d["metrics"])):
        if changes:
            lines += ["", f"### {title}", "", "| key | a | b |", "|---|---|---|"]
            lines += [f"| {c['key']} | {_md_cell(c['a'])} | {_md_cell(c['b'])} |" for c in changes]
    lines += ["", "### Environment", ""]
    if d["environment"]:
        lines += ["| key | a | b |", "|---|---|---|"]
        lines += [
            f"| {e['key']} | {_md_cell(e['a'])} | {_md_cell(e['b'])} |" for e in d["environment"]
        ]
    else:
        lines.append("No changes.")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    root = Path(args.root)
    a, b = resolve(args.a, root).usable(), resolve(args.b, root).usable()
    if args.format == "overrides":
        overrides = overrides_between(a, b)
        if overrides:
            print("\n".join(overrides))
        return 0
    d = diff_runs(a, b)
    if args.format == "json":
        print(json.dumps(as_json(d), indent=2))
    elif args.format == "md":
        print(_shown(to_markdown(d)), end="")
    else:
        print(_shown(to_text(d)), end="")
    return 0
