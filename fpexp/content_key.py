"""A run's content key: the sha256 of everything that decides its result files, and nothing else.

Pure: no I/O. The key is the sha256 of JSON (no spaces, ASCII, the config's own key order: a
module may depend on the order of a dict argument) of

- the resolved config (run.json's ``config``; ``hydra.*`` and the run directory are never in
  it) less ``EXCLUDED``, with ``device`` as the device actually used (``auto`` resolved);
- ``parts``: the input's sha256 and format, the ``model.weights`` file's sha256 (null when the
  weights are seeded), the versions of the packages that make the files (``VERSIONED``) and the
  sha256 of fpexp's own source (an edited checkout keeps its version number).

A config the record cannot keep exactly (a non-finite float, a key that is not text) or whose
layers come from code outside torch (a user's module can change without any version) has no
key (``unkeyable``): such a run is never reused, nor reuses.

Everything that can change a file's bytes stays in (``output.format``, ``batch_size``, ``dtype``,
``seed``, ...). The parts are recorded in run.json beside the key (``content_key_parts``), so
anyone can recompute a record's key from the record alone (``key_of_record``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
from typing import Any

# dotted config key -> why it does not decide the result files
EXCLUDED: dict[str, str] = {
    "progress": "a progress bar on stderr only: no file changes",
    "reuse": "whether to look for an earlier result, not what the result is",
    "data.path": "where the input is, not what: its sha256 and format are in the key",
    "model.weights": "where the weights file is, not what: its sha256 is in the key",
}
VERSIONED = ("fpexp", "torch", "numpy", "pyarrow", "safetensors")  # they make the files
PART_KEYS = ("input_sha256", "input_format", "weights_sha256", "device", "versions", "source")


def key_config(config: dict[str, Any], device: str) -> dict[str, Any]:
    """``config`` less the ``EXCLUDED`` keys, with ``device`` the device used (a copy)."""
    kept = copy.deepcopy(config)
    for dotted in EXCLUDED:
        *parents, leaf = dotted.split(".")
        node: Any = kept
        for name in parents:
            node = node.get(name) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(leaf, None)
    kept["device"] = device
    return kept


def make_parts(
    input_sha256: str | None,
    input_format: str | None,
    weights_sha256: str | None,
    device: str,
    versions: dict[str, str | None],
    source: str,
) -> dict[str, Any]:
    """What besides the config decides the result, as recorded in ``content_key_parts``
    (``source``: the sha256 of fpexp's own code)."""
    return {
        "input_sha256": input_sha256,
        "input_format": input_format,
        "weights_sha256": weights_sha256,
        "device": device,
        "versions": {name: versions.get(name) for name in VERSIONED},
        "source": source,
    }


def unkeyable(config: Any, where: str = "") -> str | None:
    """Why ``config`` cannot be keyed exactly (None: it can): a value run.json cannot keep as
    it is, or a layer whose code is not torch's."""
    if isinstance(config, float) and not math.isfinite(config):
        return f"{where or 'a value'} is {config} (recorded as null)"
    if isinstance(config, list):
        return next((w for i, v in enumerate(config) if (w := unkeyable(v, f"{where}.{i}"))), None)
    if not isinstance(config, dict):
        return None
    target = config.get("_target_")
    if isinstance(target, str) and not target.startswith("torch."):
        return f"{where}._target_ is {target}, code outside torch that may change without a version"
    for key, value in config.items():
        if not isinstance(key, str):
            return f"{where}.{key!r} is a key that is not text"
        if (why := unkeyable(value, f"{where}.{key}".lstrip("."))) is not None:
            return why
    return None


def content_key(config: dict[str, Any], parts: dict[str, Any]) -> str:
    """The content key (64 hex digits) of a run of ``config`` with ``parts``."""
    body = {
        "config": key_config(config, str(parts["device"])),
        **{k: parts[k] for k in PART_KEYS if k != "device"},
    }
    text = json.dumps(body, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def key_of_record(record: dict[str, Any]) -> str | None:
    """The key a record's own config and ``content_key_parts`` give (None if it has none or
    they are malformed): a record whose ``content_key`` differs from this is not believed."""
    config, parts = record.get("config"), record.get("content_key_parts")
    if not isinstance(config, dict) or not isinstance(parts, dict):
        return None
    if set(parts) != set(PART_KEYS) or not isinstance(parts["versions"], dict):
        return None
    if unkeyable(config) is not None:
        return None
    try:
        return content_key(config, parts)
    except (TypeError, ValueError, RecursionError):
        return None
