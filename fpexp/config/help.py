"""``--help`` text generated from the config tree and the subcommands, never kept by hand.

Registered as OmegaConf resolvers (``store.register``) and used by ``conf/hydra/help/fpexp.yaml``;
they run only when the help text is rendered.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path

from fpexp.config.store import config_dir


def _summary(path: Path) -> str:
    """The first comment line of a shipped YAML that is not the command using it."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text and not text.startswith("python -m fpexp"):
            return text
    return ""


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
    """The values a few keys take, read from their tables (input and output formats)."""
    from fpexp.config.schema import NAN_POLICIES
    from fpexp.data.formats import INPUT_FORMATS
    from fpexp.output_formats import OUTPUT_FORMATS

    every = ", ".join(s for f in INPUT_FORMATS.values() for s in f.suffixes)
    choices = {
        "data.format": f"{', '.join(INPUT_FORMATS)}; null: from the file's suffix ({every})",
        "data.nan": ", ".join(NAN_POLICIES),
        "output.format": ", ".join(OUTPUT_FORMATS),
    }
    width = max(map(len, choices))
    return ["values:", *(f"  {k.ljust(width)}  {v}" for k, v in choices.items())]


def commands_text() -> str:
    """One line per subcommand: its usage line, from the command module's docstring."""
    from fpexp.commands import COMMANDS

    lines = []
    for name in COMMANDS:
        doc = (import_module(f"fpexp.commands.{name}").__doc__ or "").strip().splitlines()[0]
        usage, _, what = doc.partition(": ")
        lines.append(f"  {usage.strip('`').ljust(34)} {what}")
    return "\n".join(lines)
