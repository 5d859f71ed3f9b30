"""Reading a torch file without running any of it.

A ``.pt``/``.pth``/``.ckpt`` file is read with ``torch.load(weights_only=True)`` first
(``weights``). Only when that refuses a pickled object is it read again (``read_inert``), from
the same bytes, by an unpickler that resolves a handful of torch's own tensor-rebuild functions
and maps every other global the file names to ``Opaque``: an inert stand-in that is never
imported, never called and drops whatever pickle hands it. So the extra entries of a Lightning
checkpoint (``hyper_parameters`` as an ``AttributeDict``, callbacks, loops, a pickled module)
are skipped without constructing them; a state dict must still hold only tensors.
"""

from __future__ import annotations

import io
import pickle
import types
from pathlib import Path
from typing import Any, ClassVar

from fpexp.errors import Problem, UsageError

KEY = "model.weights"
PICKLED = "holds pickled objects, not only tensors; refused without loading them"


class Opaque:
    """Stands in for any object a file names that is not part of a tensor."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        pass

    def __setstate__(self, state: object) -> None:
        pass

    def __setitem__(self, key: object, value: object) -> None:
        pass

    def append(self, item: object) -> None:
        pass

    def extend(self, items: object) -> None:
        pass


def _allowed() -> dict[tuple[str, str], Any]:
    """The only real globals an inert read resolves: tensor rebuilding, a subset of what
    torch's own ``weights_only`` unpickler allows. Nothing is imported by name from the file."""
    import collections

    import torch
    from torch import _utils, serialization

    found: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch", "Size"): torch.Size,
        ("torch.serialization", "_get_layout"): serialization._get_layout,
    }
    for name in (
        "_rebuild_tensor_v2",
        "_rebuild_parameter",
        "_rebuild_sparse_tensor",
        "_rebuild_meta_tensor_no_storage",
        "_rebuild_qtensor",
    ):
        found[("torch._utils", name)] = getattr(_utils, name)
    for name, value in vars(torch).items():
        if isinstance(value, torch.dtype | torch.qscheme):
            found[("torch", name)] = value
    return found


class _InertUnpickler(pickle._Unpickler):  # the Python one: its opcodes can be overridden
    """Resolves only ``allowed`` globals (anything else: ``Opaque``); BUILD only fills in
    objects the file made (never a resolved global: that would rewrite torch's functions for
    the whole process); a persistent id must name a storage (torch's legacy reader calls more
    for a ``module`` id: it wrote a ``<name>.patch`` file where the file's pickle chose)."""

    allowed: ClassVar[dict[tuple[str, str], Any]] = {}  # set per read (_inert_module)
    buildable: ClassVar[tuple[type, ...]] = (Opaque,)
    dispatch: ClassVar[dict[int, Any]] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str) -> Any:
        return self.allowed.get((module, name), Opaque)

    def load_build(self) -> None:
        target = self.stack[-2]  # type: ignore[attr-defined]
        if not isinstance(target, self.buildable):
            raise pickle.UnpicklingError(f"BUILD of a {type(target).__name__}")
        super().load_build()  # type: ignore[misc]

    dispatch[pickle.BUILD[0]] = load_build

    @property
    def persistent_load(self) -> Any:
        return self._storage_only

    @persistent_load.setter
    def persistent_load(self, load: Any) -> None:
        self._torch_load = load

    def _storage_only(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and pid and pid[0] in ("storage", b"storage")):
            raise pickle.UnpicklingError("a persistent id that is not a storage")
        return self._torch_load(pid)


def _inert_module() -> types.ModuleType:
    """A ``pickle_module`` for ``torch.load``: torch adds its storages and tensor layout."""
    import collections

    import torch

    buildable = (Opaque, collections.OrderedDict, torch.Tensor)  # _metadata; tensor state
    unpickler = type(
        "InertUnpickler", (_InertUnpickler,), {"allowed": _allowed(), "buildable": buildable}
    )
    module = types.ModuleType("fpexp_inert_pickle")
    module.__dict__.update(
        Unpickler=unpickler, load=lambda f, **kw: unpickler(f, **kw).load(), __version__="0"
    )
    return module


def read_inert(path: Path) -> object:
    """The objects in a torch file with every foreign object an ``Opaque`` (``UsageError``
    when the file cannot be read that way, or is a TorchScript archive: never run)."""
    import torch
    from torch import serialization

    data = io.BytesIO(Path(path).read_bytes())  # one read: what is checked is what is loaded
    try:
        if serialization._is_zipfile(data):
            with serialization._open_zipfile_reader(data) as archive:
                if serialization._is_torchscript_zip(archive):
                    raise ValueError("a TorchScript archive")
            data.seek(0)
        return torch.load(
            data, map_location="cpu", pickle_module=_inert_module(), weights_only=False
        )
    except Exception:  # whatever the reader raised: the file stays refused, as weights_only said
        raise UsageError(
            [Problem(KEY, f"{path}: {PICKLED}", "a state dict of tensors, or .safetensors")]
        ) from None
