"""``fpexp rerun RUN [OVERRIDES...]``: run a recorded run again, optionally changed or checked.

The config is recomposed from the run's own record, validated as untrusted input (its group
choices, fpexp's own config keys with plain values, and an allow-list of Hydra settings; see
``fpexp.replay``), then OVERRIDES apply. The new run gets a new directory; its run.json says
which run it reproduces. ``--check`` verifies the original's files, input, weights and config
against its record, then compares the new run's files with them; a changed input, weights
file or config is named as the cause of any difference.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from fpexp import initial_weights
from fpexp.catalog import DEFAULT_ROOT, Run, resolve, shown
from fpexp.commands import Parser
from fpexp.config.store import group_names
from fpexp.errors import Problem, UsageError
from fpexp.hashing import sha256_file
from fpexp.integrity import changed_input, changed_outputs, changed_weights, edited_config
from fpexp.overrides import pin_overrides


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="fpexp rerun", description=__doc__.split(": ", 1)[1].split("\n")[0])
    p.add_argument("run", help="run: a path, @latest, @-N or SWEEP_DIR:JOB")
    p.add_argument("overrides", nargs="*", help="Hydra overrides applied on top, e.g. seed=7")
    p.add_argument("--check", action="store_true", help="exit 1 unless reproduced identically")
    p.add_argument("--root", default=str(DEFAULT_ROOT), help="where @latest looks (./outputs)")
    p.add_argument(
        "--allow-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="let the record's model.layers import MODULE (torch's are always allowed)",
    )
    return p


def rerun_overrides(run: Run, extra: list[str], modules: Sequence[str] = ()) -> list[str]:
    """The Hydra command line that recomposes ``run``'s config, then applies ``extra``.

    Only validated values are used (``UsageError`` naming the first bad key otherwise); a
    layer from a module other than torch's or ``modules`` is refused before it is imported."""
    from fpexp.replay import refuse_foreign_targets, refuse_unknown_choices

    refuse_unknown_choices(run.choices, shown(run.path / "run.json"))
    groups = group_names()
    changed = {o.split("=", 1)[0] for o in extra if "=" in o and o.split("=", 1)[0] in groups}
    config = run.portable_config()
    refuse_foreign_targets(config, shown(run.path / "run.json"), modules)
    pins = pin_overrides(config, run.choices, skip=changed)
    return pins + run.hydra_overrides() + extra


def _differs(original: Run, name: str, new_dir: Path) -> str:
    """Why ``name`` of the new run differs from the original's (max abs diff for outputs)."""
    from fpexp.compare import output_changes

    a, b = original.path / name, new_dir / name
    if not (name.startswith("outputs.") and a.is_file() and b.is_file()):
        return ""
    new_record = json.loads((new_dir / "run.json").read_text(encoding="utf-8"))
    outs = output_changes(original.path, original.record, new_dir, new_record)
    if outs["comparable"]:
        worst = max(c["max_abs_diff"] for c in outs["columns"].values())
        return f" (max abs diff {worst:.6g})"
    return f" ({outs['reason']})"


def compare(original: Run, new_dir: Path) -> list[str]:
    """Files of the new run that differ from the original's files as they are now."""
    differ = []
    for name in original.record.get("outputs") or {}:
        a, b = original.path / name, new_dir / name
        if not (a.is_file() and b.is_file()) or sha256_file(a) != sha256_file(b):
            differ.append(f"{name}: differs{_differs(original, name, new_dir)}")
    return differ


def _past_run(original: Run, changed: list[str]) -> initial_weights.PastRun:
    """The original for weights: its saved weights are not used when --check found them
    changed since the run (the rerun then initialises them as the original did)."""
    distrust = next((c for c in changed if c.startswith(f"{initial_weights.SAVED}:")), None)
    return initial_weights.PastRun(original.path, original.record, distrust, original.status)


def main(argv: list[str]) -> int:
    from fpexp import cli

    args = parser().parse_intermixed_args(argv)  # rerun RUN --check seed=7 too
    if any(o in ("-m", "--multirun") or o.startswith("-") for o in args.overrides):
        raise UsageError(
            [Problem("rerun", "takes Hydra overrides only", "key=value ...; a rerun is one run")]
        )
    original = resolve(args.run, Path(args.root)).usable(damaged=True)
    # refuses a crafted record first
    overrides = rerun_overrides(original, args.overrides, args.allow_module)
    if original.status != "completed":
        print(f"original: {shown(original.path)} is {original.status_note()}")
    # The run's own files changed since: --check fails. What the rerun reads that changed
    # (input, model.weights, .hydra/config.yaml): named as the cause of any difference.
    tampered = changed_outputs(original) if args.check else []
    edited = edited_config(original)  # the rerun ran another config: never "identical"
    causes = changed_input(original) + changed_weights(original) + edited
    if not args.check:
        for line in causes:
            print(f"note: {line}")
    done = cli.run_hydra(overrides, past=_past_run(original, tampered))
    if not args.check or done.code != 0 or done.run_dir is None:
        return done.code
    print(f"original: {shown(original.path)}")
    for line in tampered + causes:
        print(f"  {line}")
    differ = compare(original, done.run_dir)
    print(f"rerun:    {shown(done.run_dir)}")
    if original.record["status"] != "completed":
        print(f"reproduced: not comparable: the original run is {original.status} (no result)")
        return 1
    if not differ and not tampered and not edited:
        print("reproduced: identical")
        return 0
    if differ:
        print("reproduced: differs")
    elif tampered:
        print("reproduced: identical to the changed files")
    else:
        print("reproduced: same files, but from a config edited since the run")
    for line in differ:
        print(f"  {line}")
    return 1
