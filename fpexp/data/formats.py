"""The input file formats, one entry per ``data.format``: suffixes, first bytes, reader module.

Each format's module provides ``check(path, kind)`` (refuse a file whose first bytes, as
``sniff`` names them, are not this format), ``inspect(path, features, id_, label) -> Columns``
and ``read(path, columns)``: blocks of ``(ids or None, float32 features, labels or None)``.
This table imports none of them (and no numpy or pyarrow): validation and ``--help`` read it.
Adding a format is one reader module and one entry here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fpexp.data.columns import Columns

NOT_UTF8 = "text that is not UTF-8"
TAIL_BYTES = 16  # the last bytes read for a format's ``tail``
# first bytes of files that are no input format, or not one as given
OTHER_MAGIC = (
    (b"\xff\xfe", NOT_UTF8),  # UTF-16 (a spreadsheet's "Unicode text")
    (b"\xfe\xff", NOT_UTF8),
    (b"PK\x03\x04", "a zip archive, like an .npz"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"\xfd7zXZ\x00", "xz-compressed data"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
)


@dataclass(frozen=True)
class InputFormat:
    """One input format. ``kind`` is what ``sniff`` calls such a file (``text`` for a text
    format); ``magic``/``tail`` its first and last bytes, where the format has them;
    ``read_ahead``: its blocks are decoded on a thread while the model runs (not for a memory
    map, whose reads are page faults wherever the block is used)."""

    suffixes: tuple[str, ...]
    kind: str
    module: str
    title: str
    magic: bytes = b""
    tail: bytes = b""
    read_ahead: bool = False

    def inspect(
        self, path: Path, features: list[str] | None, id_: str | None, label: Any
    ) -> Columns:
        """The columns a run reads from ``path`` (its bytes checked first)."""
        reader = import_module(self.module)
        reader.check(path, sniff(path))
        columns: Columns = reader.inspect(path, features, id_, label)
        return columns

    def read(self, path: Path, columns: Columns) -> Iterator[Any]:
        """Blocks of rows: (ids or None, float32 features, labels or None)."""
        rows: Iterator[Any] = import_module(self.module).read(path, columns)
        if self.read_ahead:
            from fpexp.data.read_ahead import read_ahead

            return read_ahead(rows)
        return rows


INPUT_FORMATS: dict[str, InputFormat] = {
    "csv": InputFormat((".csv",), "text", "fpexp.data.csv_table", "CSV", read_ahead=True),
    "parquet": InputFormat(
        suffixes=(".parquet", ".pq"),
        kind="a Parquet file",
        module="fpexp.data.parquet_table",
        title="Parquet",
        magic=b"PAR1",
        tail=b"PAR1",  # a file cut short has lost its footer
        read_ahead=True,
    ),
    "npy": InputFormat((".npy",), "an .npy array", "fpexp.data.npy_table", "NPY", b"\x93NUMPY"),
}


def by_suffix(path: Path) -> str | None:
    """The format a file's suffix says, or None."""
    suffix = path.suffix.lower()
    return next((n for n, f in INPUT_FORMATS.items() if suffix in f.suffixes), None)


def suffixes(last: str = " or ") -> str:
    """Each format's main suffix: ``.csv, .parquet or .npy`` (``last`` joins the last two)."""
    main = [f.suffixes[0] for f in INPUT_FORMATS.values()]
    return ", ".join(main[:-1]) + last + main[-1] if len(main) > 1 else main[0]


def format_of_kind(kind: str) -> str | None:
    """The format whose files ``sniff`` calls ``kind``, or None."""
    return next((n for n, f in INPUT_FORMATS.items() if f.kind == kind), None)


def sniff(path: Path) -> str:
    """What the file's first bytes say it is: a format's kind, another known kind, text, or
    binary data."""
    with open(path, "rb") as fh:
        head = fh.read(512)
        fh.seek(max(0, fh.seek(0, 2) - TAIL_BYTES))
        tail = fh.read(TAIL_BYTES)
    for fmt in INPUT_FORMATS.values():
        if fmt.magic and head.startswith(fmt.magic) and tail.endswith(fmt.tail):
            return fmt.kind
    for magic, kind in OTHER_MAGIC:
        if head.startswith(magic):
            return kind
    if b"\x00" in head:
        return "binary data"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as err:
        if len(head) < 512 or err.start < len(head) - 3:  # not a character cut short
            return NOT_UTF8
    return "text"


def first_line(err: BaseException) -> str:
    """An exception's first line, cut to 120 characters (for one-line errors)."""
    line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return line if len(line) <= 120 else line[:117] + "..."
