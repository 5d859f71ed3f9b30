"""``fpexp.diff`` and ``fpexp.rerun``: the CLI's ``fpexp diff --json`` and ``fpexp rerun``
from Python, through the same functions (``fpexp.commands.diff``, ``fpexp.commands.rerun``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fpexp.api import dir_override, guarded, new_dir, outcome, overrides_of, root_of
from fpexp.api_run import Run, module_names
from fpexp.api_state import caller_state
from fpexp.errors import Problem, UsageError

if TYPE_CHECKING:
    from fpexp.catalog import Run as Entry

RunRef = Run | str | os.PathLike[str]


class NotReproduced(RuntimeError):
    """``fpexp.rerun(..., check=True)`` whose new run does not reproduce the original.

    The new run completed (a run that fails raises ``fpexp.RunFailed`` instead); ``.run`` is
    it, ``.original`` the run it reran, ``.differences`` the lines ``fpexp rerun --check``
    prints (the verdict and what differs, or what changed since the original ran).

    Example::

        try:
            fpexp.rerun("@latest", check=True)
        except fpexp.NotReproduced as err:
            print("\\n".join(err.differences))
            fpexp.diff(err.original, err.run)
    """

    def __init__(self, differences: list[str], run: Run, original: Run) -> None:
        verdict = next((d for d in differences if d.startswith("reproduced: ")), "")
        super().__init__(f"{original.dir} not reproduced: {verdict.removeprefix('reproduced: ')}")
        self.differences, self.run, self.original = differences, run, original


def _entry(ref: RunRef, root: str | os.PathLike[str]) -> Entry:
    """A ``Run``, a path or any CLI reference, read afresh from its directory."""
    from fpexp.catalog import load_run, resolve

    if isinstance(ref, Run):
        return load_run(ref.dir)
    if not isinstance(ref, (str, os.PathLike)):
        what = f"not a run reference but a {type(ref).__name__}"
        raise UsageError([Problem(repr(ref)[:80], what, "a Run, a path, @latest, @-N")])
    return resolve(os.fspath(ref), root_of(root))


def diff(
    a: Run | str | os.PathLike[str],
    b: Run | str | os.PathLike[str],
    root: str | os.PathLike[str] = "outputs",
) -> dict[str, Any]:
    """What differs between runs ``a`` and ``b`` (each a ``Run``, a path or a CLI reference:
    ``@latest``, ``@-N``, ``SWEEP_DIR:JOB``): exactly what ``fpexp diff --json A B`` prints,
    as a dict (config, groups, inputs, metrics, outputs, environment, ``empty``). Paths in
    it are shown as the CLI shows them (relative to the working directory when inside it).

    Example::

        d = fpexp.diff("@-2", "@latest")
        d["empty"], d["config"]["changed"], d["outputs"]["columns"]
    """
    from fpexp.commands.diff import as_json, diff_runs

    with caller_state():
        found = as_json(diff_runs(_entry(a, root).usable(), _entry(b, root).usable()))
    result: dict[str, Any] = json.loads(json.dumps(found))  # plain JSON values, as printed
    return result


def rerun(
    run: Run | str | os.PathLike[str],
    *overrides: str,
    check: bool = False,
    root: str | os.PathLike[str] = "outputs",
    allow_modules: Sequence[str] = (),
) -> Run:
    """Run a recorded run again, like ``fpexp rerun RUN OVERRIDES``, into a new directory
    under ``root``; the new ``Run`` (its run.json names the run it reproduces).

    ``run`` is a ``Run``, a path or a CLI reference; ``overrides`` apply on top of the
    original's config. ``check=True`` is ``--check``: unless the new run's files are
    identical to the original's (and nothing changed since it ran), ``fpexp.NotReproduced``
    is raised. ``allow_modules`` is ``--allow-module`` (layers from modules other than
    torch's). Errors as ``fpexp.run``: ``UsageError``, ``RunFailed``, ``KeyboardInterrupt``.
    What the CLI notes before the run (the original failed, its input changed) is printed.

    Example::

        new = fpexp.rerun("@latest", check=True)  # raises NotReproduced if it differs
        fpexp.rerun(new, "seed=7").metrics
    """
    from fpexp.commands import rerun as command

    module_names(allow_modules)
    command.refuse_flags([o for o in overrides if isinstance(o, str)])  # the CLI's message
    extra = overrides_of(overrides, one_run=True)
    original = _entry(run, root).usable(damaged=True)
    target = new_dir(root)
    with caller_state() as tee:
        plan = command.prepare(original, extra, check, allow_modules)
        for line in plan.notes():
            print(line)
        done = guarded(lambda: command.execute(plan, [dir_override("run", target)]), target)
    ran = done.done
    new = outcome(ran.code, list(ran.failures), tee.seen.getvalue(), target, ran.stopped_by)
    if check and not done.reproduced:
        raise NotReproduced(done.report(), new, Run(original))
    return new
