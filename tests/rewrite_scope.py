"""Imported first by conftest: pytest rewrites the asserts of test modules, not of Hydra.

pytest marks every module of a distribution that registers a pytest plugin (hydra-core's
``hydra_pytest``, anyio's) for assertion rewriting, so each worker re-parsed and rewrote every
Hydra module it imported, generated parsers included (~1.7 s of CPU a worker; with
``PYTHONDONTWRITEBYTECODE`` nothing is cached). Their plugins are off in pyproject's addopts
(no test uses their fixtures), and their modules are unmarked here, before anything imports
them; they load from their bytecode as in any process. Test modules are rewritten as before.
"""

from __future__ import annotations

import sys

NOT_TESTS = frozenset({"hydra", "anyio"})


def _unmark() -> None:
    for hook in sys.meta_path:
        marked = getattr(hook, "_must_rewrite", None)
        if type(hook).__name__ == "AssertionRewritingHook" and isinstance(marked, set):
            marked.difference_update(NOT_TESTS)


_unmark()
