"""``--help`` text generated from the config tree and the subcommands, never kept by hand.

Registered as OmegaConf resolvers (``store.register``) and used by ``conf/hydra/help/fpexp.yaml``;
Hydra's composition resolves them in every run (not only for --help): they stay cheap.
"""

from __future__ import annotations

import ast
import functools
import re
from importlib import import_module
from importlib.util import find_spec
from pathlib import Path

from fpexp.config.store import config_dir

_SENTENCE_END = re.compile(r"(?<!\.)\.(?:\s|$)")  # a full stop, not an ellipsis


def _summary(path: Path) -> str:
    """The first sentence of a shipped YAML's opening comment, after the commands using it
    (it may run over several comment lines)."""
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.lstrip("#").strip()
        if not line.startswith("#") or (words and text.startswith("python -m fpexp")):
            break
        if text and not text.startswith("python -m fpexp"):
            words.append(text)
            if _SENTENCE_END.search(text):
                break
    parts = _SENTENCE_END.split(" ".join(words), maxsplit=1)
    return parts[0] + ("." if len(parts) > 1 else "")


def group_options() -> dict[str, list[Path]]:
    """Each user-facing config group and its option files, sorted."""
    groups = sorted(p for p in Path(config_dir()).iterdir() if p.is_dir() and p.name != "hydra")
    return {g.name: sorted(g.glob("*.yaml")) for g in groups}


def groups_text() -> str:
    """``group: a, b, c`` for every group, then one line per option saying what it is."""
    lines = []
    for group, options in group_options().items():
        lines.append(f"{group}: " + ", ".join(p.stem for p in options))
        width = max(len(p.stem) for p in options)
        lines += [f"  {p.stem.ljust(width)}  {_summary(p)}".rstrip() for p in options]
    return "\n".join([*lines, *choices_lines()])


def choices_lines() -> list[str]:
    """The values a few keys take, read from their tables (formats, activations, norms)."""
    from fpexp.config.schema import NAN_POLICIES
    from fpexp.data.formats import INPUT_FORMATS
    from fpexp.mlp import ACTIVATION_TARGETS, NORM_TARGETS
    from fpexp.output_formats import OUTPUT_FORMATS

    every = ", ".join(s for f in INPUT_FORMATS.values() for s in f.suffixes)
    choices = {
        "data.format": f"{', '.join(INPUT_FORMATS)}; null: from the file's suffix ({every})",
        "data.nan": ", ".join(NAN_POLICIES),
        "model.activation": ", ".join(ACTIVATION_TARGETS),
        "model.norm": ", ".join(NORM_TARGETS),
        "output.format": ", ".join(OUTPUT_FORMATS),
        "reuse": "false, true (take a completed, intact run with the same content key)",
    }
    width = max(map(len, choices))
    return ["values:", *(f"  {k.ljust(width)}  {v}" for k, v in choices.items())]


@functools.cache  # resolved by every composition (each sweep job's, twice): read once
def commands_text() -> str:
    """One line per subcommand: its usage line, from the command module's docstring."""
    from fpexp.commands import COMMANDS

    lines = []
    for name in COMMANDS:
        doc = _docstring(f"fpexp.commands.{name}").strip().splitlines()[0]
        usage, _, what = doc.partition(": ")
        lines.append(f"  {usage.strip('`').ljust(34)} {what}")
    return "\n".join(lines)


def _docstring(module: str) -> str:
    """A module's docstring, read from its source without importing it. Hydra's composition
    resolves this text in every run, not only for --help: importing the subcommands (sqlite3,
    the run tables, ...) for their first lines cost a default run ~0.1 s."""
    spec = find_spec(module)
    origin = spec.origin if spec is not None else None
    if origin is None or not origin.endswith(".py"):  # no source shipped: ask the module
        return import_module(module).__doc__ or ""
    return ast.get_docstring(ast.parse(Path(origin).read_text(encoding="utf-8"))) or ""
