"""``reuse=true``: a run whose content key matches a completed, intact run under its root is
not recomputed; it gets that run's result files and a record that says ``reused_from``.

Every run records its ``content_key`` (``fpexp.content_key``) and the parts it was made of.
With ``reuse=true`` the key is made before the forward pass, candidates come from the root's
index (``fpexp.run_index``), and each is read again from its directory: the newest one whose
record gives the key and whose files, linked or copied here, still have their recorded sha256
is taken. A candidate that is not intact is named in one line and never used.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from fpexp.catalog import shown
from fpexp.content_key import content_key, make_parts, unkeyable
from fpexp.record import RunRecord

if TYPE_CHECKING:
    from fpexp.phases.validate import Checked

log = logging.getLogger("fpexp")

# What a reused run takes from the run it reuses: what the forward pass would have recorded.
TAKEN = (
    "weights",
    "device",
    "dtype",
    "seed",
    "torch_threads",
    "batch_size",
    "classes",
    "model",
    "results",
    "layers",
    "metrics",
)


SHOWN = 3  # candidates refused, named one by one; the rest counted


def _versions() -> dict[str, str | None]:
    from fpexp.environment import package_versions

    return package_versions()


@functools.cache
def source_digest() -> str:
    """The sha256 of fpexp's own code: every ``.py`` of the package, by relative path (an
    edited checkout or a fork keeps its version number, not its results)."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key_before_forward(
    cfg: DictConfig, record: RunRecord, checked: Checked, cwd: Path
) -> str | None:
    """Make and record the content key from the validated run (waits for the input's hash)."""
    from fpexp.data.sources import source_of
    from fpexp.devices import resolve_device
    from fpexp.hashing import background_hash, sha256_file

    described = checked.source.describe()
    entry = source_of(cfg.data)
    path = entry.input_file(cfg.data, cwd) if entry is not None else None
    input_sha = background_hash(path).result() if path is not None else described.get("sha256")
    record.data.setdefault("input", {})["sha256"] = input_sha
    weights = checked.weights.path if checked.weights.origin != "initialised" else None
    weights_sha = sha256_file(weights) if weights is not None else None
    device = str(resolve_device(str(cfg.device)))
    parts = make_parts(
        input_sha, described.get("format"), weights_sha, device, _versions(), source_digest()
    )
    return _record_key(record, parts)


def key_after_forward(record: RunRecord) -> str | None:
    """Make and record the content key of a computed run from its record."""
    data = record.data
    described, weights = data.get("input") or {}, data.get("weights") or {}
    weights_sha = weights.get("sha256") if weights.get("origin") != "initialised" else None
    parts = make_parts(
        described.get("sha256"),
        described.get("format"),
        weights_sha,
        str(data.get("device")),
        _versions(),
        source_digest(),
    )
    return _record_key(record, parts)


def _record_key(record: RunRecord, parts: dict[str, Any]) -> str | None:
    """Record the key (None, and a note why, for a config that cannot be keyed exactly)."""
    why = unkeyable(record.data["config"])
    key = None if why is not None else content_key(record.data["config"], parts)
    notes = record.data.pop("notes", None) or []  # notes end the record, before outputs, error
    record.update(content_key=key, content_key_parts=parts)
    if why is not None:
        notes.append(f"content_key: none, {why}: never reused, nor reusing")
    if notes:
        record.data["notes"] = notes
    return key


def reuse(cfg: DictConfig, record: RunRecord, checked: Checked, cwd: Path) -> bool:
    """Give this run an earlier run's results if one with its key is intact; True if it did
    (the record then says so), False to compute afresh. Each candidate refused: one line."""
    from fpexp.reuse_find import Candidate, candidate, candidates, root_of
    from fpexp.reuse_link import take

    key = key_before_forward(cfg, record, checked, cwd)
    multirun = record.data["command"].get("mode") == "MULTIRUN"
    console = {"console": not multirun}
    if key is None:
        log.info("not reused: this run has no content key (see its notes)", extra=console)
        return False
    refused = 0
    for path in candidates(root_of(record.run_dir, multirun), key, record.run_dir):
        found = candidate(path, key)
        why = found if isinstance(found, str) else None
        if isinstance(found, Candidate):
            taken = take(found.path, found.record["outputs"], record.run_dir)
            if taken.refused is None:
                _take_record(record, found, checked, taken.copied)
                how = "copied" if taken.copied else "hard-linked"
                line = "reused %s (same content key %s…; its files %s, every sha256 verified)"
                log.info(line, shown(found.path), key[:12], how, extra=console)
                return True
            why = taken.refused
        refused += 1
        if refused <= SHOWN:
            log.info("not reused: %s: %s", shown(path), why, extra=console)
    if refused > SHOWN:
        log.info("not reused: %d more runs with this key", refused - SHOWN, extra=console)
    if refused:
        log.info("computing afresh", extra=console)
    return False


def _take_record(record: RunRecord, found: Any, checked: Checked, copied: list[str]) -> None:
    """This run's record as the forward pass would have left it, from the reused run's."""
    earlier = found.record
    data = record.data
    for name in TAKEN:
        if name in earlier:
            data[name] = copy.deepcopy(earlier[name])
    own_input = data.get("input") or {}
    if isinstance(earlier.get("input"), dict):  # what was read, found where this run found it
        here = {"path": own_input["path"]} if "path" in own_input else {}
        data["input"] = {**earlier["input"], **here}
    if isinstance(data.get("weights"), dict) and checked.weights.path is not None:
        data["weights"]["path"] = str(checked.weights.path.resolve())
    notes = [*data.get("notes", []), *(earlier.get("notes") or [])]
    if notes:
        data["notes"] = list(dict.fromkeys(str(n) for n in notes))
    record.update(reused_from=str(found.path), reused_copies=copied)
    data["outputs"] = copy.deepcopy(earlier["outputs"])
