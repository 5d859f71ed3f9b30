"""The Python API: ``fpexp.run``, ``fpexp.load``, ``fpexp.runs`` (see ``fpexp.Run``).

``run`` goes through the CLI's own Hydra path (``fpexp.cli.run_hydra``), so a run made from
Python has the same files as one made by ``python -m fpexp`` and is listed and reproduced by
``fpexp runs`` and ``fpexp rerun``. Nothing here exits the process or prints a traceback;
what a call changes in the caller's process is put back (``fpexp.api_state``).
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TypeVar

from fpexp.api_run import Run
from fpexp.api_state import caller_state
from fpexp.errors import EXIT_INTERRUPTED, EXIT_USAGE, Problem, UsageError
from fpexp.interrupts import deliver_now

_PREFIX = "fpexp: error: "
T = TypeVar("T")


class RunFailed(RuntimeError):
    """A run that did not complete for another reason than bad input; ``.run`` is its
    ``fpexp.Run`` (its record says ``failed``), or None if it never got a directory.

    Example::

        try:
            fpexp.run("data=file", "data.path=table.csv")
        except fpexp.RunFailed as err:
            print(err, err.run.status if err.run else None)
    """

    def __init__(self, message: str, run: Run | None) -> None:
        super().__init__(message)
        self.run = run


def cli_problems(lines: list[str]) -> list[Problem]:
    """``key: what (allowed)`` lines back as problems whose ``str`` is the same line, but for
    the run or sweep directory, which the caller chose as ``root=``: its key is ``root``."""
    problems = []
    for line in lines:
        key, what = line.split(": ", 1) if ": " in line else ("fpexp", line)
        problems.append(Problem("root" if key in _DIR_KEYS else key, what))
    return problems


_DIR_KEYS = ("hydra.run.dir", "hydra.sweep.dir")  # refused as overrides: root= names them


def new_dir(root: object, *under: str) -> Path:
    """``ROOT[/UNDER]/<date>/<time>.<ms>-<random>``: the name the CLI gives a run or sweep
    (``fpexp.stamp``), so those made from Python sort with the CLI's and never share one."""
    from fpexp.config.store import run_stamp

    return root_of(root).joinpath(*under) / run_stamp()


def run(*overrides: str, root: str | os.PathLike[str] = "outputs") -> Run:
    """Run fpexp with the CLI's overrides into a new directory under ``root``; the ``Run``.

    Overrides are ``python -m fpexp``'s (its ``--help`` lists every key), e.g.
    ``task=binary|multiclass|multilabel|regression``, ``data=animals|file|synthetic`` (with
    ``data.path=table.csv``), ``model=layers|mlp``, ``model.hidden=[8,8]``, ``seed=7``,
    ``dtype=float32|float64|bfloat16``, ``output.format=csv|parquet|npy``. The run goes to
    ``ROOT/<date>/<time>.<ms>-<random>``, as the CLI names it.

    The ``Run``: ``.dir``, ``.status``, ``.config``, ``.record`` (run.json), ``.metrics``;
    ``.outputs()`` and ``.predictions()`` (numpy), ``.table("outputs")`` (pyarrow), and
    ``.model()`` (the torch module with the run's weights). A sweep: ``fpexp.sweep``.

    Raises ``fpexp.UsageError`` (a ``ValueError``; ``.problems`` are the CLI's one-line
    messages) for bad overrides or values, ``fpexp.RunFailed`` (``.run``) for a run that
    failed otherwise, and ``KeyboardInterrupt`` once the record says ``interrupted``
    (a SIGTERM first goes on to the caller's own SIGTERM handler: by default, the process ends).

    Notebook-safe: the process is left as it was found (working directory, ``sys.argv``,
    logging, signal handlers, torch's dtype and RNG, Hydra's global state: see
    ``fpexp.api_state``), also inside a running Hydra app. Calls from several threads run one
    at a time; outside the main thread Ctrl-C and SIGTERM are not handled (a note says so).

    Example::

        run = fpexp.run("task=multiclass", "model.hidden=[8]", root="outputs")
        run.status, run.metrics, run.outputs()
    """
    from fpexp.cli import run_hydra

    args = overrides_of(overrides, one_run=True)
    target = new_dir(root)
    with caller_state() as tee:
        done = guarded(lambda: run_hydra([*args, dir_override("run", target)]), target)
    return outcome(done.code, list(done.failures), tee.seen.getvalue(), target, done.stopped_by)


def root_of(root: object) -> Path:
    """``root`` as an absolute path, ``~`` expanded as a shell would for the CLI
    (``UsageError`` for what is not a str or path)."""
    if not isinstance(root, (str, os.PathLike)) or not isinstance(os.fspath(root), str):
        what = f"not a directory path but a {type(root).__name__}"
        raise UsageError([Problem("root", what, "a str or pathlib.Path")])
    return Path(root).expanduser().absolute()


def overrides_of(overrides: tuple[object, ...], one_run: bool) -> list[str]:
    """The overrides as the CLI would take them (``UsageError`` otherwise): strings only, no
    flags (``-m``, ``--cfg``...: the call says what it does), no ``hydra.run.dir`` (a sweep:
    ``hydra.sweep.dir``), which ``root=`` decides, and, for a call that makes one run, no
    ``hydra.mode`` (a multirun would go to Hydra's sweep directory, outside root)."""
    from fpexp.commands import command_line_problem

    args: list[str] = []
    for value in overrides:
        if not isinstance(value, str):
            what = f"not a str but a {type(value).__name__}"
            raise UsageError([Problem(repr(value)[:80], what, "overrides are 'key=value' str")])
        if any(c in value for c in "\n\r\x00"):  # the CLI's error would be cut in two lines
            what = "holds a line break or NUL character"
            raise UsageError([Problem(repr(value)[:80], what, "one 'key=value' per str")])
        args.append(value)
    if (problem := command_line_problem(args)) is not None:
        raise UsageError([problem])
    if flags := [a for a in args if a.startswith("-")]:
        raise UsageError([Problem(flags[0], "not an override", "key=value overrides only")])
    if one_run and any(_key(a) == "hydra.mode" for a in args):
        why = "not for one run (Hydra would make a multirun outside root)"
        raise UsageError([Problem("hydra.mode", why, "fpexp.sweep(...) for a multirun")])
    mine = "hydra.run.dir" if one_run else "hydra.sweep.dir"
    if any(_key(a) == mine for a in args):  # it would be overridden by root=, silently
        why = "is named by the call (ROOT/<date>/<time>...), not an override"
        raise UsageError([Problem(mine, why, "root=DIR to choose where it goes")])
    return args


def _key(override: str) -> str:
    return override.lstrip("+~").split("=", 1)[0].strip()


def dir_override(mode: str, path: Path) -> str:
    """``hydra.run.dir`` (``mode="run"``) or ``hydra.sweep.dir`` as ``path``, whatever its
    characters: quoted, so spaces, quotes, ``,=[]`` and non-ASCII parse. ``UsageError`` for a
    backslash or ``${``, which Hydra would resolve (``${oc.env:HOME}``: another directory)."""
    text = str(path)
    if "\\" in text or "${" in text:
        why = "a backslash or ${ in the directory name (Hydra would read it as an escape or "
        raise UsageError(
            [Problem("root", why + "an interpolation)", "a directory name without them")]
        )
    quoted = text.replace("'", "\\'")
    return f"hydra.{mode}.dir='{quoted}'"


def guarded(call: Callable[[], T], target: Path) -> T:
    """``call()``, with whatever else than bad input or Ctrl-C escapes it as ``RunFailed``
    (the run in ``target``, if it got a record): nothing exits the caller's process."""
    try:
        return call()
    except SystemExit as err:
        raise RunFailed(f"fpexp stopped (exit {err.code})", _found(target)) from None
    except (KeyboardInterrupt, UsageError):
        raise
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise RunFailed(f"{type(err).__name__}: {first}", _found(target)) from None


def error_lines(stderr: str) -> list[str]:
    """The CLI's ``fpexp: error: ...`` lines in ``stderr``, without that prefix."""
    return [s[len(_PREFIX) :] for s in stderr.splitlines() if s.startswith(_PREFIX)]


def _found(path: Path) -> Run | None:
    from fpexp.catalog import load_run

    return Run(load_run(path)) if os.path.lexists(path / "run.json") else None  # no OSError


def interrupted(stopped_by: str | None) -> NoReturn:
    """After a call a signal stopped (its records say ``interrupted``; the caller's handlers
    are back): a SIGTERM goes on to the caller's own SIGTERM handler, which by default ends
    the process as the signal asked (a notebook kernel told to stop, stops); then, and for
    Ctrl-C, ``KeyboardInterrupt``."""
    if stopped_by == "SIGTERM" and threading.current_thread() is threading.main_thread():
        deliver_now(signal.SIGTERM)
    raise KeyboardInterrupt


def outcome(
    code: int, failures: list[str], stderr: str, target: Path, stopped_by: str | None = None
) -> Run:
    """The run in ``target``, or the exception its exit code stands for (``stderr``: what the
    call printed, where the CLI's one-line errors are; ``stopped_by``: the signal, if any)."""
    if code == EXIT_INTERRUPTED:
        interrupted(stopped_by)
    if code == EXIT_USAGE:
        raise UsageError(cli_problems(failures or error_lines(stderr) or ["the run was refused"]))
    found = _found(target)
    if code != 0 or found is None or found.status != "completed":
        why = "; ".join(failures) or f"the run ended with exit code {code}"
        raise RunFailed(why, found)
    return found


def load(ref: Run | str | os.PathLike[str], root: str | os.PathLike[str] = "outputs") -> Run:
    """The run a CLI run reference names: a path, ``@latest``, ``@-N`` or ``SWEEP_DIR:JOB``
    (``UsageError`` if none); a ``Run``, read afresh from its directory.

    Example: ``fpexp.load("@-2", root="outputs").metrics``."""
    from fpexp.catalog import load_run, resolve

    if isinstance(ref, Run):
        return Run(load_run(ref.dir))
    if not isinstance(ref, (str, os.PathLike)):
        what = f"not a run reference but a {type(ref).__name__}"
        raise UsageError([Problem(repr(ref)[:80], what, "a Run, a path, @latest, @-N")])
    return Run(resolve(os.fspath(ref), root_of(root)))


def runs(
    root: str | os.PathLike[str] = "outputs",
    where: Sequence[str] = (),
    sort: str | None = None,
) -> list[Run]:
    """Every run under ``root`` (sweep jobs too, unreadable ones with that status), newest
    first; only those where every ``KEY OP VALUE`` of ``where`` (a list, or one str) holds,
    ordered by ``sort`` (``KEY`` or ``-KEY``), as ``fpexp runs --where ... --sort ...``.
    A bad expression or a key no run has: ``UsageError`` with the CLI's lines. Example:
    ``fpexp.runs(where=["model.width>=8", "status=completed"], sort="-metrics.accuracy")``."""
    from fpexp.catalog import find_runs
    from fpexp.run_table import entries, pick

    exprs = [where] if isinstance(where, str) else list(where)
    if bad := [e for e in exprs if not isinstance(e, str)]:
        what = f"{bad[0]!r} is not an expression"
        raise UsageError([Problem("where", what, "a list of 'KEY OP VALUE' strings")])
    return [Run(r) for r in pick(entries(find_runs(root_of(root))), exprs, sort).runs]
