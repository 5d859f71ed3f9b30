"""Which of a sweep directory's recorded overrides ``fpexp resume`` may run again.

Both lists are read from files someone else may have written. A job's overrides are taken
only as fpexp's own config keys with plain values, or options of the packaged config groups
(``fpexp.replay``'s rules: no ``_target_`` outside ``model.layers``, none outside torch there).
Hydra overrides are taken only for how the sweep ran: the mode, a known launcher and its plain
settings, the batch size, the sweep directory (which must be this one), the default job
subdirectory and ``replay.ALLOWED_HYDRA``; anything else (callbacks, a sweeper, a ``_target_``)
is refused with one line each. Accepted overrides are kept verbatim, so each rerun job's
``.hydra/hydra.yaml`` records the overrides its sweep recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpexp.errors import Problem
from fpexp.sweep_plan import JOB_SUBDIR

LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm", "slurm")
_SCALARS = (type(None), bool, int, float, str)


def _parsed(text: str, where: str) -> tuple[Any, Problem | None]:
    """Hydra's reading of one untrusted override, or the one-line problem it has."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (override,) = OverridesParser.create().parse_overrides([text])
    except Exception as err:  # any parse failure of untrusted text is one line
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return None, Problem(repr(text)[:60], f"not a valid override ({first[:80]})", where)
    return override, None


def _parse(text: str, where: str) -> tuple[Any, Problem | None]:
    """A plain ``key=value`` override (no sweep, no ``+``/``~``), or its problem."""
    from hydra.core.override_parser.types import OverrideType

    override, problem = _parsed(text, where)
    if override is None:
        return None, problem
    if override.type != OverrideType.CHANGE or override.is_sweep_override():
        return None, Problem(override.key_or_group, "not a plain key=value override", where)
    return override, None


def _plain(value: Any) -> bool:
    items = value if isinstance(value, list) else [value]
    return all(isinstance(v, _SCALARS) and not (isinstance(v, str) and "${" in v) for v in items)


def _hydra_problem(key: str, value: Any) -> str | None:
    """Why the Hydra override ``key=value`` is not resumed (None: it is kept)."""
    from fpexp.replay import ALLOWED_HYDRA

    if key == "hydra.mode":
        return None if value == "MULTIRUN" else "a resume is a sweep (MULTIRUN)"
    if key == "hydra/launcher":
        return None if value in LAUNCHERS else f"not a known launcher ({', '.join(LAUNCHERS)})"
    if key == "hydra.sweep.subdir":
        return None if value == JOB_SUBDIR else f"a plan exists only for {JOB_SUBDIR}"
    if key.startswith("hydra.launcher.") or key == "hydra.sweeper.max_batch_size":
        bad = "_target_" in key or not _plain(value)
        return "only plain launcher settings are resumed" if bad else None
    if key in ALLOWED_HYDRA:
        return None if isinstance(value, ALLOWED_HYDRA[key]) and _plain(value) else "bad value"
    return "not resumed from a sweep record"


# Launcher settings that name a place to write (submitit's job files, joblib's memmaps)
PLACES = ("submitit_folder", "temp_folder")


def _inside(path: Path, sweep_dir: Path) -> bool:
    return path.resolve().is_relative_to(sweep_dir)


def _dir_override(sweep_dir: Path) -> str:
    """``hydra.sweep.dir=PATH``, quoted only where Hydra's grammar needs it (as a user types)."""
    from fpexp.overrides import render

    bare = f"hydra.sweep.dir={sweep_dir}"
    override, _ = _parse(bare, "")
    same = override is not None and override.value() == str(sweep_dir)
    return bare if same else f"hydra.sweep.dir={render(str(sweep_dir))}"


def hydra_overrides(
    recorded: list[str], sweep_dir: Path, where: str, cwd: Path
) -> tuple[list[str], list[str], list[Problem]]:
    """The recorded Hydra overrides to run again (verbatim), console notes, and a problem for
    each that is refused. The sweep directory is always ``sweep_dir``: a recorded
    ``hydra.sweep.dir`` that names another place from ``cwd``, where the jobs run (a sweep
    moved, or the default ``multirun/${now:...}``), is replaced, and that is said."""
    kept, notes, problems, has_dir = [], [], [], False
    allowed = f"{where}: mode, launcher and its settings, sweep dir, hydra.job.chdir, verbose"
    for text in recorded:
        override, problem = _parse(text, where)
        if override is None:
            problems.append(problem)
            continue
        key, value = override.key_or_group, override.value()
        if key == "hydra.sweep.dir":  # in its place: hydra.yaml lists the same overrides
            same = isinstance(value, str) and (cwd / value).resolve() == sweep_dir
            kept.append(text if same else _dir_override(sweep_dir))
            notes += [] if same else [f"note: {text} is now hydra.sweep.dir={sweep_dir}"]
            has_dir = True
        elif (why := _hydra_problem(key, value)) is not None:
            problems.append(Problem(key, why, allowed))
        elif key.rpartition(".")[2] in PLACES and not _inside(cwd / str(value), sweep_dir):
            what = f"{value!r} is outside the sweep directory: a resume writes only there"
            problems.append(Problem(key, what, f"{where}: a place inside {sweep_dir}"))
        else:
            kept.append(text)
    if not has_dir:
        kept.append(_dir_override(sweep_dir))
        notes.append(f"note: the sweep directory is given as hydra.sweep.dir={sweep_dir}")
    return kept, notes, [p for p in problems if p is not None]


def job_override_problems(
    overrides: list[str], where: str, modules: Sequence[str] = ()
) -> list[Problem]:
    """Every override of a planned job that is not an fpexp key or group option with a plain
    value (model.layers: targets from torch or ``modules`` only)."""
    from fpexp.config.store import group_names
    from fpexp.data.sources import SOURCES
    from fpexp.replay import choice_problems, config_problems, foreign_targets

    problems: list[Problem | None] = []
    choices: dict[str, Any] = {}
    config: dict[str, Any] = {}
    for text in overrides:
        override, problem = _parse(text, where)
        if override is None:
            problems.append(problem)
            continue
        key, value = override.key_or_group, override.value()
        if key in group_names():
            choices[key] = value
            continue
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {}) if isinstance(node.get(part, {}), dict) else {}
        node[last] = value
    data = config.setdefault("data", {})
    if isinstance(data, dict) and "source" not in data:
        source = choices.get("data", "animals")
        data["source"] = source if source in SOURCES else "animals"
    problems += choice_problems(choices, where)
    problems += config_problems(config, where) + foreign_targets(config, where, modules)
    return [p for p in problems if p is not None]


def task_problems(task: list[str], where: str) -> list[Problem]:
    """The sweep's recorded command line (``hydra.overrides.task``) may only sweep fpexp's own
    keys: a Hydra setting or a flag there does not change the jobs (``sweep.json`` is checked
    against them) but would run (a callback's ``_target_``, another sweep dir), so it is
    refused."""
    problems: list[Problem | None] = []
    for text in task:
        override, problem = _parsed(text, where)
        if override is None:
            problems.append(problem)
        elif text.startswith("-") or override.is_hydra_override():
            what = "a Hydra setting in the sweep's job overrides is not resumed"
            problems.append(Problem(override.key_or_group or repr(text)[:60], what, where))
    return [p for p in problems if p is not None]


MODE = "hydra.mode=MULTIRUN"  # Hydra adds it to a sweep's Hydra overrides itself


def original_order(args: list[str], records: list[dict[str, Any]]) -> list[str]:
    """``-m`` and ``args``, in the order the sweep's own command line had them (a job's
    ``command.argv``), so each rerun job records the same command; only a command line made of
    exactly these overrides and ``-m`` is taken from a record."""
    wanted = sorted(a for a in args if a != MODE)
    for rec in records:
        command = rec.get("command")
        argv = command.get("argv") if isinstance(command, dict) else None
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            continue
        words = argv[1:]
        flags = [w for w in words if w.startswith("-")]
        rest = sorted(w for w in words if not w.startswith("-") and w != MODE)
        if flags in (["-m"], ["--multirun"]) and rest == wanted:
            return list(words)
    return ["-m", *args]


def original_cwd(recorded: Any, notes: list[str]) -> Path | None:
    """The working directory the sweep ran in (``hydra.runtime.cwd``), where relative paths
    in its overrides resolve; None (with a note) when it is gone."""
    path = Path(recorded) if isinstance(recorded, str) and recorded else None
    if path is None or not path.is_absolute() or not path.is_dir():
        notes.append(f"note: the sweep's working directory {recorded!r} is gone: jobs run here")
        return None
    if path.resolve() != Path.cwd().resolve():
        notes.append(f"note: jobs run in {path}, the working directory the sweep ran in")
    return path
