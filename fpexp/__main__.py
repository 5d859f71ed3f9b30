"""``python -m fpexp`` and the ``fpexp`` console script: see ``fpexp.cli``.

Before anything else is imported, a run starts loading torch's native libraries on a thread
(``fpexp.torch_preload``), so that they load while Hydra imports and composes."""

from __future__ import annotations

import sys
from typing import NoReturn


def main() -> NoReturn:
    """Preload torch's libraries where the command line runs models, then ``cli.entry()``."""
    from fpexp.cli import entry
    from fpexp.commands import COMMANDS
    from fpexp.torch_preload import start

    start(sys.argv[1:], COMMANDS)
    entry()


if __name__ == "__main__":
    main()
