"""``python -m fpexp`` and the ``fpexp`` console script: see ``fpexp.cli``.

Once ``fpexp.cli`` is imported, a run starts loading torch's native libraries on a thread
(``fpexp.torch_preload``), so that they load while Hydra composes. Not before that import: it
loads C extensions, and each ``dlopen`` would wait for libtorch's (measured: no gain)."""

from __future__ import annotations

import sys
from typing import NoReturn


def main() -> NoReturn:
    """Preload torch's libraries where the command line runs models, then ``cli.entry()``.
    Ctrl-C before fpexp's own handlers are in place (while importing) exits 130 quietly."""
    from fpexp.errors import EXIT_INTERRUPTED

    try:
        from fpexp.cli import entry
        from fpexp.commands import COMMANDS
        from fpexp.torch_preload import start

        start(sys.argv[1:], COMMANDS)
        entry()
    except KeyboardInterrupt:
        print("fpexp: interrupted", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None


if __name__ == "__main__":
    main()
