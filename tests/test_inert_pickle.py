"""The inert reader (``fpexp.safe_pickle``) against hand-written malicious pickles: nothing a
file names may be called with effect, rewritten for the process, or made to write a file."""

from __future__ import annotations

import pickle
import struct

import pytest
import torch
from torch import nn
from torch.serialization import MAGIC_NUMBER, PROTOCOL_VERSION

from fpexp.errors import UsageError
from fpexp.safe_pickle import _allowed, read_inert
from fpexp.weights import load_state

SYS_INFO = {"protocol_version": 1001, "little_endian": True, "type_sizes": {"int": 4}}


def text(s: str) -> bytes:
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def legacy(main: bytes) -> bytes:
    """A file in torch's legacy (non-zip) layout whose main pickle is ``main``."""
    head = b"".join(pickle.dumps(x, protocol=2) for x in (MAGIC_NUMBER, PROTOCOL_VERSION))
    return head + pickle.dumps(SYS_INFO, protocol=2) + main + pickle.dumps([], protocol=2)


def build(module: str, name: str, attrs: dict[str, bytes]) -> bytes:
    """GLOBAL module.name, then BUILD with ``attrs`` as slot state (setattr on the global)."""
    items = b"".join(text(k) + v for k, v in attrs.items())
    return f"c{module}\n{name}\n".encode() + b"N}(" + items + b"u\x86b"


def patch_writer(target: str) -> bytes:
    """Torch's legacy reader calls ``_check_container_source`` for a ``module`` persistent id;
    with ``dump_patches`` and ``__name__`` set by BUILD it writes ``<__name__>.patch``."""
    func = build(
        "torch._utils", "_rebuild_tensor_v2", {"dump_patches": b"\x88", "__name__": text(target)}
    )
    return b"\x80\x02(" + text("module") + func + text("x.py") + text("pwned\n") + b"tQ."


class Extra:
    """An object weights_only refuses: the inert reader reads the file."""


def refused(path) -> str:
    with pytest.raises(UsageError) as info:
        read_inert(path)
    return info.value.lines()[0]


def test_a_module_persistent_id_writes_no_patch_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "w.pt").write_bytes(legacy(patch_writer(str(tmp_path / "PWNED"))))
    with pytest.raises(UsageError) as info:
        load_state(tmp_path / "w.pt")
    assert "holds pickled objects" in info.value.lines()[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pt"]
    assert torch._utils._rebuild_tensor_v2.__name__ == "_rebuild_tensor_v2"


@pytest.mark.parametrize(("module", "name"), sorted(_allowed()))
def test_no_global_the_reader_resolves_can_be_rewritten(tmp_path, module, name):
    obj = _allowed()[(module, name)]
    main = b"\x80\x02" + build(module, name, {"fpexp_mark": b"K\x01", "__doc__": text("x")}) + b"."
    (tmp_path / "w.pt").write_bytes(legacy(main))
    doc = getattr(obj, "__doc__", None)
    assert "holds pickled objects" in refused(tmp_path / "w.pt")
    assert not hasattr(obj, "fpexp_mark") and getattr(obj, "__doc__", None) == doc


@pytest.mark.parametrize(
    "pid",
    [b"(S'module'\np0\nP", b"X\x06\x00\x00\x00moduleQ", b"(X\x06\x00\x00\x00moduleNNNtQ"],
    ids=["protocol0_persid", "string_binpersid", "module_tuple"],
)
def test_a_persistent_id_must_name_a_storage(tmp_path, pid):
    (tmp_path / "w.pt").write_bytes(legacy(pid + b"."))
    assert "holds pickled objects" in refused(tmp_path / "w.pt")


@pytest.mark.parametrize("zipped", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_real_checkpoints_still_load_in_every_protocol(tmp_path, zipped, protocol):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    content = {"state_dict": model.state_dict(), "hyper_parameters": Extra()}
    torch.save(
        content,
        tmp_path / "w.ckpt",
        pickle_protocol=protocol,
        _use_new_zipfile_serialization=zipped,
    )
    state = load_state(tmp_path / "w.ckpt")
    assert state.key == "state_dict"
    assert all(torch.equal(state.tensors[k], v) for k, v in model.state_dict().items())
    assert set(state.tensors) == set(model.state_dict())
