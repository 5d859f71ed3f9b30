"""Where a run's weights come from: seeded initialisation, ``model.weights``, or a past run.

``fpexp rerun`` passes the run it reproduces down to ``choose`` (``past``). When the new run
would initialise exactly the same weights as that run (same seed, model, head, dtype and input
width), it loads that run's saved ``weights.safetensors`` instead, so a rerun never depends on
initialisation code or on the original ``model.weights`` file still existing. Only a completed
run whose record lists the saved file with its sha256 has such weights; a rerun of any other
run (failed, interrupted, stale) gets its weights as the original did, and says so.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem, UsageError

if TYPE_CHECKING:
    from fpexp.checkpoints import StateDict

SAVED = "weights.safetensors"
log = logging.getLogger("fpexp")


@dataclass(frozen=True)
class PastRun:
    """The run a rerun reproduces: its directory and its record; ``distrust`` says why its
    saved weights must not be used even if recorded (e.g. changed since the run)."""

    run_dir: Path
    record: dict[str, Any]
    distrust: str | None = None
    status: str | None = None  # as listed (``stale`` for a dead ``running`` run)

    def saved_weights_problem(self) -> str | None:
        """Why this run has no saved weights to reuse (None: it has)."""
        status = self.status or self.record.get("status")
        if status != "completed":
            return f"the original run is {status}: its weights were never saved"
        sha = ((self.record.get("outputs") or {}).get(SAVED) or {}).get("sha256")
        if not sha:
            return f"the original run's record lists no {SAVED} with its sha256"
        return self.distrust


def _weights_path(given: Any, cwd: Path) -> Path | None:
    """``model.weights`` as the absolute path it names from ``cwd`` (None when not given)."""
    if not isinstance(given, str) or not given:
        return None
    path = Path(given).expanduser()
    return path if path.is_absolute() else Path(cwd) / path


def _init_facts(config: dict[str, Any], in_features: int | None, cwd: Path) -> str:
    """What decides a run's initial weights; ``model.weights`` as the absolute path it named
    from its own run's working directory (``w.pt`` then and ``/abs/w.pt`` now are the same)."""
    task = config.get("task") or {}
    model = dict(config.get("model") or {})
    if (path := _weights_path(model.get("weights"), cwd)) is not None:
        model["weights"] = os.path.normpath(path)
    facts = {
        "seed": config.get("seed"),
        "model": model,
        "head": [task.get("kind"), task.get("out_features")],
        "dtype": config.get("dtype"),
        "in_features": in_features,
    }
    return json.dumps(facts, sort_keys=True)


@dataclass(frozen=True)
class Choice:
    origin: str  # "initialised" | "model.weights" | "rerun"
    path: Path | None = None
    expected_sha256: str | None = None
    note: str | None = None  # why a rerun did not load the original's saved weights


def choose(
    config: dict[str, Any], in_features: int, cwd: Path, past: PastRun | None = None
) -> Choice:
    """Decide the weights for a run with resolved ``config`` (no loading yet); ``past`` is
    the run a rerun reproduces."""
    note = None
    if past is not None:
        recorded = (past.record.get("input") or {}).get("features")
        past_cwd = Path((past.record.get("command") or {}).get("cwd") or past.run_dir)
        if _init_facts(config, in_features, cwd) == _init_facts(
            past.record.get("config") or {}, recorded, past_cwd
        ):
            note = past.saved_weights_problem()
            if note is None:
                sha = past.record["outputs"][SAVED]["sha256"]
                return Choice("rerun", past.run_dir / SAVED, sha)
    path = _weights_path((config.get("model") or {}).get("weights"), cwd)
    if path is not None:
        choice = Choice("model.weights", path, note=note)
    else:
        choice = Choice("initialised", note=note)
    if note is not None:
        seed = config.get("seed")
        how = f"loaded from {choice.path}" if choice.path else f"initialised from seed {seed}"
        choice = Choice(choice.origin, choice.path, note=f"{note}; {how}, as the original run did")
        log.info("weights: %s", choice.note)
    return choice


def problems(choice: Choice) -> list[Problem]:
    """What can be checked before building: the file is there, in a known format, unchanged."""
    from fpexp.weights import path_problems

    if choice.path is None:
        return []
    if choice.origin == "rerun":
        from fpexp.hashing import sha256_file

        if not choice.path.is_file():
            return [Problem("rerun", f"{choice.path}: the run's saved weights are missing")]
        if choice.expected_sha256 and sha256_file(choice.path) != choice.expected_sha256:
            return [Problem("rerun", f"{choice.path}: changed since the run (sha256 mismatch)")]
        return []
    return path_problems(choice.path)


def apply(
    model: Any,
    choice: Choice,
    feature_names: list[str] | None = None,
    loaded: StateDict | None = None,
) -> dict[str, Any]:
    """Load the chosen weights into ``model`` (built, seeded, and already on its device and
    dtype, so each tensor is checked as the model will use it); describe them for run.json.

    ``loaded``: the chosen weights as already read (``model_shape.decide``), their key prefix
    stripped here when the stripped keys fit ``model``. ``feature_names`` (the data's) go into
    the message when the state dict does not fit.
    """
    from fpexp.weights import describe, fit_problems, load_state, value_problems

    note = {"note": choice.note} if choice.note else {}
    if choice.path is None:
        return {"origin": "initialised", **note}
    expected = set(model.state_dict())
    weights = (loaded or load_state(choice.path)).strip(lambda keys: set(keys) == expected)
    if (line := weights.line()) is not None:
        log.info("%s", line)
    state, hint = weights.tensors, weights.shared_prefix()
    issues = fit_problems(model, state, choice.path, feature_names, hint)
    if issues := issues or value_problems(model, state, choice.path):
        raise UsageError(issues)
    model.load_state_dict(state)
    return {"origin": choice.origin, **describe(choice.path), **weights.record(), **note}
