"""Checkpoints: finding the state dict in what a weights file holds, and its key prefix.

A checkpoint dict (Lightning's ``.ckpt``, ``{"model_state_dict": ...}``) holds its state dict
under one of ``STATE_KEYS``, picked when exactly one holds tensors, or under
``model.weights_key`` (a key, or a dotted path of keys). A key prefix (``model.``, ``net.``,
DataParallel's ``module.``) is stripped when every key has it and the stripped keys fit the
model, or as ``model.weights_prefix`` says. Reading the file safely is ``safe_pickle``'s job.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fpexp.errors import Problem, UsageError
from fpexp.safe_pickle import PICKLED, Opaque

KEY = "model.weights"
STATE_KEYS = ("state_dict", "model_state_dict", "model", "module")
MAX_KEYS = 20


@dataclass(frozen=True)
class StateDict:
    """A state dict as found in a weights file: under which ``key`` of a checkpoint dict, and
    which key ``prefix`` was stripped (``wanted_prefix``: the one the config asks for)."""

    path: Path
    tensors: dict[str, Any]
    key: str | None = None
    prefix: str | None = None
    wanted_prefix: str | None = None
    stripped: bool = False

    def record(self) -> dict[str, str]:
        """What was picked and stripped, for run.json's ``weights`` (nothing when neither)."""
        found = {"key": self.key, "prefix": self.prefix}
        return {k: v for k, v in found.items() if v is not None}

    def line(self) -> str | None:
        parts = [f"the state dict under '{self.key}'"] if self.key is not None else []
        parts += [f"key prefix '{self.prefix}' stripped"] if self.prefix is not None else []
        return f"weights: {', '.join(parts)} ({self.path})" if parts else None

    def strip(self, fits: Callable[[Collection[str]], bool]) -> StateDict:
        """The tensors with their prefix stripped: the wanted one (which every key must start
        with), else the shortest prefix all keys share whose stripped keys ``fits``."""
        if self.stripped:
            return self
        prefix = _prefix(list(self.tensors), self.wanted_prefix, fits, self.path)
        tensors = self.tensors
        if prefix:
            tensors = {k[len(prefix) :]: v for k, v in tensors.items()}
        return replace(self, tensors=tensors, prefix=prefix or None, stripped=True)

    def shared_prefix(self) -> str | None:
        """A name every key starts with, when none was stripped (a hint when keys do not fit;
        ``0.`` of a one-layer model is a module number, not a prefix)."""
        found = shared_prefixes(list(self.tensors))
        if self.prefix is not None or not found or found[0][:-1].isdigit():
            return None
        return found[0]


def shared_prefixes(keys: list[str]) -> list[str]:
    """Dotted prefixes every key starts with, shortest first (``net.``, ``net.body.``)."""
    if not keys:
        return []
    parts = [k.split(".")[:-1] for k in keys]
    found = []
    for depth in range(1, min(len(p) for p in parts) + 1):
        heads = {".".join(p[:depth]) for p in parts}
        if len(heads) != 1:
            break
        found.append(heads.pop() + ".")
    return found


def _prefix(
    keys: list[str], wanted: str | None, fits: Callable[[Collection[str]], bool], path: Path
) -> str | None:
    if wanted is not None:
        wanted = wanted if wanted == "" or wanted.endswith(".") else wanted + "."
        if bad := [k for k in keys if not k.startswith(wanted)]:
            what = f"'{wanted}' does not start every key of {path} (not {bad[0]})"
            allowed = _prefix_hint("a prefix every key shares", shared_prefixes(keys)[:1])
            raise UsageError([Problem("model.weights_prefix", what, allowed)])
        return wanted
    if fits(keys):
        return None
    for prefix in shared_prefixes(keys):
        if fits([k[len(prefix) :] for k in keys]):
            return prefix
    return None


def _prefix_hint(text: str, examples: list[str]) -> str:
    return f"{text}, e.g. {examples[0]}" if examples else f"{text}, or '' to strip none"


def pick(obj: object, key: str | None, path: Path) -> tuple[dict[str, Any], str | None]:
    """The state dict in what a file held: under ``key`` when given (a key, or a dotted path of
    keys), else the file itself or the one of ``STATE_KEYS`` that holds tensors."""
    if key is not None:
        return _as_state(_lookup(obj, key, path), path), key
    if _kind(obj) == "state":
        return obj, None  # type: ignore[return-value]
    if not isinstance(obj, dict):
        raise _not_a_state_dict(path)
    kinds = {k: _kind(obj[k]) for k in STATE_KEYS if k in obj}
    states = [k for k, kind in kinds.items() if kind == "state"]
    if len(states) == 1:
        return obj[states[0]], states[0]
    if len(states) > 1:
        what = f"{path}: more than one state dict (under {' and '.join(states)}); keys found: "
        allowed = " or ".join(f"model.weights_key={k}" for k in states)
        raise UsageError([Problem("model.weights_key", what + _keys(obj), allowed)])
    if "objects" in kinds.values() or (not kinds and _kind(obj) == "objects"):
        raise UsageError(
            [Problem(KEY, f"{path}: {PICKLED}", "a state dict of tensors, or .safetensors")]
        )
    names = f"{', '.join(STATE_KEYS[:-1])} or {STATE_KEYS[-1]}"
    what = f"{path}: no state dict under {names}; keys found: {_keys(obj)}"
    raise UsageError(
        [Problem("model.weights_key", what, "the key that holds it; a.b for a nested key")]
    )


def _kind(value: object) -> str | None:
    """``state`` (names -> tensors), ``objects`` (names -> tensors or pickled objects), None."""
    import torch

    if not isinstance(value, dict) or not value or not all(isinstance(k, str) for k in value):
        return None
    if all(isinstance(v, torch.Tensor) for v in value.values()):
        return "state"
    if all(isinstance(v, torch.Tensor | Opaque) for v in value.values()):
        return "objects"
    return None


def _lookup(obj: object, key: str, path: Path) -> object:
    """``obj[key]``, else ``obj[a][b]...`` for ``key`` = ``a.b...``; a miss lists the keys."""
    if isinstance(obj, dict) and key in obj:
        return obj[key]
    found, walked = obj, list[str]()
    for part in key.split("."):
        if not isinstance(found, dict) or part not in found:
            where = f"'{'.'.join(walked)}' in {path}" if walked else str(path)
            listed = f"keys found: {_keys(found)}" if isinstance(found, dict) else "not a dict"
            what = f"'{key}' not found: {where} has no key '{part}' ({listed})"
            raise UsageError(
                [Problem("model.weights_key", what, "a key of the file; a.b for a nested key")]
            )
        found, walked = found[part], [*walked, part]
    return found


def _as_state(value: object, path: Path) -> dict[str, Any]:
    kind = _kind(value)
    if kind == "objects":
        raise UsageError(
            [Problem(KEY, f"{path}: {PICKLED}", "a state dict of tensors, or .safetensors")]
        )
    if kind is None:
        raise _not_a_state_dict(path)
    return value  # type: ignore[return-value]


def _not_a_state_dict(path: Path) -> UsageError:
    what = f"{path}: is not a state dict (name -> tensor)"
    return UsageError([Problem(KEY, what, "torch.save(model.state_dict(), path)")])


def _keys(obj: dict[Any, Any]) -> str:
    names = [str(k) for k in obj]
    more = f", ... ({len(names) - MAX_KEYS} more)" if len(names) > MAX_KEYS else ""
    return ", ".join(names[:MAX_KEYS]) + more if names else "none"
