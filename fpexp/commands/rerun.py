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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from fpexp import initial_weights
from fpexp.catalog import DEFAULT_ROOT, Run, resolve, shown
from fpexp.commands import Parser
from fpexp.config.store import group_names
from fpexp.errors import Problem, UsageError
from fpexp.hashing import sha256_file
from fpexp.integrity import changed_input, changed_outputs, changed_weights, edited_config
from fpexp.overrides import pin_overrides

if TYPE_CHECKING:
    from fpexp.hydra_run import HydraRun


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
    pins = [p for p in pin_overrides(config, run.choices, skip=changed) if not _is_reuse(p)]
    return pins + run.hydra_overrides() + extra + [RECOMPUTE]


RECOMPUTE = "reuse=false"  # a rerun always computes: taking the original's files proves nothing


def _is_reuse(override: str) -> bool:
    return override.lstrip("+~").split("=", 1)[0].strip() == "reuse"


def refuse_reuse(extra: Sequence[str]) -> None:
    """``reuse=...`` among a rerun's overrides: refused (a rerun always recomputes)."""
    if any(_is_reuse(o) for o in extra):
        why = "a rerun always recomputes (taking the original's files would prove nothing)"
        raise UsageError([Problem("reuse", why, "leave reuse out of a rerun's overrides")])


def _differs(original: Run, name: str, new_dir: Path) -> str:
    """Why ``name`` of the new run differs from the original's (max abs diff for outputs)."""
    from fpexp.run_diff import output_changes

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


@dataclass(frozen=True)
class Plan:
    """A rerun about to start: the original, the Hydra command line that recomposes it, and
    what changed since it ran. ``tampered``: its own files (with ``check`` only); ``causes``:
    what the rerun reads (input, model.weights, ``edited``: .hydra/config.yaml)."""

    original: Run
    overrides: list[str]
    check: bool
    tampered: list[str]
    edited: list[str]
    causes: list[str]

    def notes(self) -> list[str]:
        """The lines printed before the run starts."""
        lines = []
        if self.original.status != "completed":
            lines.append(f"original: {shown(self.original.path)} is {self.original.status_note()}")
        if not self.check:
            lines += [f"note: {line}" for line in self.causes]
        return lines


@dataclass(frozen=True)
class Rerun:
    """What a rerun did: ``done`` (``cli.run_hydra``'s result: exit code, the new run),
    and with ``check`` the files that ``differ`` and the ``verdict`` (``identical``, ...)."""

    plan: Plan
    done: HydraRun
    differ: list[str] = field(default_factory=list)
    verdict: str | None = None  # None: not checked (no check, or the rerun did not complete)

    @property
    def reproduced(self) -> bool:
        return self.verdict == IDENTICAL

    @property
    def code(self) -> int:
        """The exit code of ``fpexp rerun``: the run's, else 1 if checked and not identical."""
        if self.done.code != 0 or self.verdict is None:
            return self.done.code
        return 0 if self.reproduced else 1

    def report(self) -> list[str]:
        """The lines printed after a checked rerun (none for an unchecked one)."""
        if self.verdict is None or self.done.run_dir is None:
            return []
        plan = self.plan
        lines = [f"original: {shown(plan.original.path)}"]
        lines += [f"  {line}" for line in plan.tampered + plan.causes]
        lines += [f"rerun:    {shown(self.done.run_dir)}", f"reproduced: {self.verdict}"]
        return lines + [f"  {line}" for line in self.differ]


IDENTICAL = "identical"


def refuse_flags(extra: Sequence[str]) -> None:
    """A rerun is one run: ``-m`` or any other flag among its overrides is refused."""
    if any(o in ("-m", "--multirun") or o.startswith("-") for o in extra):
        raise UsageError(
            [Problem("rerun", "takes Hydra overrides only", "key=value ...; a rerun is one run")]
        )
    if any(o.lstrip("+~").split("=", 1)[0].strip() == "hydra.mode" for o in extra):
        why = "a rerun is one run (hydra.mode=MULTIRUN made a sweep in ./outputs/multirun)"
        raise UsageError([Problem("hydra.mode", why, "rerun each run, or fpexp -m for a sweep")])


def prepare(original: Run, extra: list[str], check: bool, modules: Sequence[str] = ()) -> Plan:
    """The rerun of ``original`` with ``extra`` overrides; ``UsageError`` for a record that
    cannot be replayed (checked before anything of it is imported or run)."""
    refuse_flags(extra)
    refuse_reuse(extra)
    overrides = rerun_overrides(original, extra, modules)  # refuses a crafted record first
    # The run's own files changed since: --check fails. What the rerun reads that changed
    # (input, model.weights, .hydra/config.yaml): named as the cause of any difference.
    tampered = changed_outputs(original) if check else []
    edited = edited_config(original)  # the rerun ran another config: never "identical"
    causes = changed_input(original) + changed_weights(original) + edited
    return Plan(original, overrides, check, tampered, edited, causes)


def _verdict(plan: Plan, differ: list[str]) -> str:
    if not differ and not plan.tampered and not plan.edited:
        return IDENTICAL
    if differ:
        return "differs"
    if plan.tampered:
        return "identical to the changed files"
    return "same files, but from a config edited since the run"


def execute(plan: Plan, extra_overrides: Sequence[str] = ()) -> Rerun:
    """Run ``plan`` (``extra_overrides`` last: where the new run goes) and, with ``check``,
    compare the new run's files with the original's."""
    from fpexp import cli

    past = _past_run(plan.original, plan.tampered)
    done = cli.run_hydra([*plan.overrides, *extra_overrides], past=past)
    if not plan.check or done.code != 0 or done.run_dir is None:
        return Rerun(plan, done)
    original = plan.original
    if original.record["status"] != "completed":  # nothing to compare with
        return Rerun(
            plan, done, [], f"not comparable: the original run is {original.status} (no result)"
        )
    differ = compare(original, done.run_dir)
    return Rerun(plan, done, differ, _verdict(plan, differ))


def main(argv: list[str]) -> int:
    args = parser().parse_intermixed_args(argv)  # rerun RUN --check seed=7 too
    refuse_flags(args.overrides)
    original = resolve(args.run, Path(args.root)).usable(damaged=True)
    prepared = prepare(original, args.overrides, args.check, args.allow_module)
    for line in prepared.notes():
        print(line)
    done = execute(prepared)
    for line in done.report():
        print(line)
    return done.code
