"""Subcommands that work on recorded runs: ``runs``, ``diff``, ``rerun``, ``resume``,
``compare``, ``report``, ``export``."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import io
import sys
from typing import NoReturn

from fpexp.errors import Problem

COMMANDS = ("runs", "diff", "rerun", "resume", "compare", "report", "export")


class Parser(argparse.ArgumentParser):
    """argparse, with fpexp's one-line error format and exit code 2."""

    def error(self, message: str) -> NoReturn:
        name = self.prog.removeprefix("fpexp ")
        print(f"fpexp: error: {name}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def version_line() -> str:
    """``fpexp 0.1.0 (hydra-core 1.3.2, omegaconf 2.3.0, torch 2.13.0)``, from the installed
    packages' metadata (no import of torch)."""
    from importlib.metadata import PackageNotFoundError, version

    from fpexp import __version__

    parts = []
    for name in ("hydra-core", "omegaconf", "torch"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    return f"fpexp {__version__} ({', '.join(parts)})"


def command_line_problem(args: list[str]) -> Problem | None:
    """A word that is neither a subcommand, a Hydra flag (with its value) nor an override.

    Uses Hydra's own argument parser, so every Hydra flag keeps working; an argument list that
    parser rejects is left to Hydra (its own message)."""
    unpickle = Problem(
        "--experimental-rerun",
        "not supported: it unpickles a file, which can run any code",
        "fpexp rerun RUN replays a run safely",
    )
    try:
        from hydra._internal.utils import get_args_parser  # Hydra's own flags, any version
    except ImportError:  # a Hydra without it: leave the rest of the command line to Hydra
        return unpickle if any(a.startswith("--exp") for a in args) else None
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            parsed, unknown = get_args_parser().parse_known_args(args)
    except SystemExit:
        return None
    if getattr(parsed, "experimental_rerun", None) is not None:
        return unpickle  # also when abbreviated (--exp) or given as --experimental-rerun=F
    words = [*parsed.overrides, *(u for u in unknown if not u.startswith("-"))]
    for i, word in enumerate(words):
        if "=" in word or word.startswith("~"):
            continue
        names = ", ".join(COMMANDS)
        if i == 0 and args and args[0] == word:
            guess = difflib.get_close_matches(word, COMMANDS, n=1)
            hint = f"did you mean {guess[0]}? " if guess else ""
            allowed = f"{hint}subcommands: {names}; a run's overrides look like key=value"
            return Problem(word, "not a subcommand", allowed)
        return Problem(
            word,
            "not an override",
            f"overrides look like key=value; subcommands come first: {names}",
        )
    return None
