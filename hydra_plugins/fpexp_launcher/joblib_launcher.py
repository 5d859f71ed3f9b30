"""``hydra/launcher=joblib`` in fpexp: Hydra's joblib launcher with each job isolated.

Hydra instantiates launchers only from the ``hydra_plugins`` namespace, so the class lives
here; the work is in ``fpexp.launcher``. ``fpexp.config.store.register_launcher`` stores it
as ``hydra/launcher=joblib``, in place of the joblib plugin's own config of that name. Without
hydra-joblib-launcher installed this module defines nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

try:
    from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
except ImportError:  # pragma: no cover (the parallel extra is not installed)
    JoblibLauncher = None

if JoblibLauncher is not None:

    class IsolatingJoblibLauncher(JoblibLauncher):
        """Hydra's ``JoblibLauncher`` (same settings), each job in a forked process of its own,
        so a job whose process is killed fails alone (``fpexp.launcher``)."""

        def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
            from fpexp.launcher import launch

            return launch(self, job_overrides, initial_job_idx)
