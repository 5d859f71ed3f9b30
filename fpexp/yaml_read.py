"""Reading the YAML files of a run or a sweep (``.hydra/*.yaml``, ``multirun.yaml``): untrusted
input, read with PyYAML's safe loader (a tag that would build an object is an error).

PyYAML's parser is pure Python (~3.5 ms for a run's ``config.yaml``, a fifth of ``fpexp diff``'s
time); libyaml's, where PyYAML was built with it, is ten times faster and gives the same data
for what Hydra and fpexp write. It is used only where the two are known to agree: plain ASCII
text (their readers differ on some code points and line breaks) whose data nests at most
``FAST_DEPTH`` deep in at most ``FAST_NODES`` lists and mappings (libyaml accepts nesting
PyYAML's recursion cannot, and refuses nesting past its own limit; aliases can make a small
text a huge tree). Anything else, and any text libyaml refuses, is PyYAML's own parse: the
same data, or the same error to report.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError
from fpexp.user_files import file_problem

FAST_DEPTH, FAST_NODES = 64, 100_000
_PLAIN_ASCII = re.compile(r"[\t\n\r\x20-\x7e]*")


def read_yaml(path: Path, shown: str) -> Any:
    """The YAML file ``path`` as plain data, interpolations kept (``UsageError`` naming it as
    ``shown`` if it is not a readable file or not YAML)."""
    import yaml

    if (problem := file_problem(path, shown, "")) is not None:
        raise UsageError([Problem(shown, problem.what.split(": ", 1)[-1])])
    try:
        return safe_load(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UsageError([Problem(shown, f"unreadable ({first})")]) from None
    except RecursionError:
        raise UsageError([Problem(shown, "unreadable (nested too deeply)")]) from None


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)``: the same data or error, through libyaml where that is sure."""
    import yaml

    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None and _PLAIN_ASCII.fullmatch(text):
        try:
            data = yaml.load(text, Loader=fast)  # a safe loader: libyaml + SafeConstructor
        except yaml.YAMLError:
            pass
        else:
            if not isinstance(data, (dict, list)) or _within(data, FAST_DEPTH, FAST_NODES):
                return data
    return yaml.safe_load(text)


def _within(data: Any, depth: int, nodes: int) -> bool:
    """Whether ``data``, walked as the tree its users walk (an alias's target each time it is
    referred to), nests at most ``depth`` deep in at most ``nodes`` lists and mappings."""
    level: list[Any] = [data]
    while level:
        depth -= 1
        nodes -= len(level)
        if depth < 0 or nodes < 0:
            return False
        level = [
            child
            for node in level
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, (dict, list))
        ]
    return True
