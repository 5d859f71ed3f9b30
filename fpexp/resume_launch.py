"""Launch only some jobs of a sweep, each with its own job number.

Hydra's sweeper expands the sweep's command line into all its jobs and hands them to the
launcher in batches (``launch(batch, initial_job_idx)``, numbered from there). During
``fpexp resume`` the sweep's own launcher (basic, joblib, submitit) is wrapped: of each batch,
only the jobs to rerun are launched, each run of consecutive ones as one ``launch`` call
with its first job number, so every job keeps its number and overrides and the launcher its
parallelism. Just before a job is launched its old directory is moved aside (``before``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any


class SelectiveLauncher:
    """A launcher that launches only the jobs numbered in ``todo``."""

    def __init__(self, inner: Any, todo: set[int], before: Callable[[int], object]) -> None:
        self.inner, self.todo, self.before = inner, todo, before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Any:
        first = initial_job_idx
        nums = [first + i for i in range(len(job_overrides)) if first + i in self.todo]
        results: list[Any] = []
        for run in _consecutive(nums):
            for num in run:
                self.before(num)
            batch = [job_overrides[n - first] for n in run]
            results += self.inner.launch(batch, initial_job_idx=run[0])
        return results


def _consecutive(nums: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for n in nums:
        if runs and runs[-1][-1] == n - 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return runs


@contextmanager
def selective(todo: set[int], before: Callable[[int], object]) -> Iterator[None]:
    """Within the block, every launcher Hydra instantiates launches only ``todo``."""
    from hydra.core.plugins import Plugins

    original = Plugins.instantiate_launcher

    def instantiate(self: Plugins, *args: Any, **kwargs: Any) -> Any:
        return SelectiveLauncher(original(self, *args, **kwargs), todo, before)

    Plugins.instantiate_launcher = instantiate  # type: ignore[method-assign]
    try:
        yield
    finally:
        Plugins.instantiate_launcher = original  # type: ignore[method-assign]
