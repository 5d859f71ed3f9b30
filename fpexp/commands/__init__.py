"""Subcommands that work on recorded runs: ``runs``, ``diff``, ``rerun``."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

COMMANDS = ("runs", "diff", "rerun")


class Parser(argparse.ArgumentParser):
    """argparse, with fpexp's one-line error format and exit code 2."""

    def error(self, message: str) -> NoReturn:
        name = self.prog.removeprefix("fpexp ")
        print(f"fpexp: error: {name}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)
