"""Typed configuration schema (dataclasses) for fpexp.

These dataclasses are registered in Hydra's ConfigStore (see ``store.py``) and used as the
schema under the YAML groups in ``conf/``: Hydra rejects unknown keys and wrong types while
composing; ``validate.py`` checks the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING, SI

from fpexp.heads import kinds
from fpexp.mlp import ACTIVATION_TARGETS

TASK_KINDS = kinds()  # the registered heads (fpexp/heads/): never listed by hand
ACTIVATIONS = tuple(ACTIVATION_TARGETS)  # the MLP preset's table: one list, never two
DTYPES = ("float32", "float64", "bfloat16")
DEVICE_CHOICES = ("cpu", "cuda", "cuda:N", "mps", "auto")


@dataclass
class TaskConfig:
    """The task head (``kind``: a registered head): output width, decision rule, class names.

    ``classes`` null: the lesson data's names on the embedded animals, the label columns'
    (multilabel), else the indices. ``threshold``: for the heads that threshold a probability.
    """

    kind: str = "binary"
    out_features: int = 1
    threshold: float | None = 0.5
    classes: list[str] | None = None


DEFAULT_WIDTH, DEFAULT_DEPTH = 4, 1


@dataclass
class ModelConfig:
    """A multilayer perceptron: ``in_features -> hidden[0] -> ... -> task.out_features``.

    Give the hidden widths either as an explicit list (``hidden``) or as ``depth`` layers of
    ``width`` units (defaults 4 and 1: the lesson's single hidden layer of 4).
    """

    hidden: list[int] | None = None
    width: int | None = None
    depth: int | None = None
    activation: str = "none"
    bias: bool = True
    in_features: int | None = None
    weights: str | None = None
    # issue 10 (open builder): filled in by the layer, checkpoint and head work
    layers: list[Any] | None = None  # modules built in order with _target_ (no hidden/width/depth)
    norm: str = "none"  # MLP: none | batch | layer, after each hidden Linear
    dropout: float = 0.0  # MLP: a Dropout after each hidden activation when > 0
    weights_key: str | None = None  # the state dict's key in a checkpoint dict
    weights_prefix: str | None = None  # a prefix stripped from every weights key


@dataclass
class AnimalsDataConfig:
    """The embedded lesson data: five animals, six numeric features, a true class."""

    source: str = "animals"


@dataclass
class SyntheticDataConfig:
    """Standard-normal features drawn from their own seeded generator."""

    source: str = "synthetic"
    n_rows: int = 100
    n_features: int = 6
    seed: int = SI("${seed}")


@dataclass
class FileDataConfig:
    """A table in a file (fpexp.data.formats: CSV, Parquet, NPY), read in batches.

    ``label``: a column name, or a list of 0/1 columns (``[n, k]`` labels, task=multilabel).
    """

    source: str = "file"
    path: str = MISSING
    format: str | None = None
    features: list[str] | None = None
    id: str | None = None
    label: Any = None  # str | list[str] | None: checked by fpexp.data.file.check_config
    nan: str = "error"


@dataclass
class OutputConfig:
    """How outputs.* and predictions.* are written."""

    format: str = "csv"


@dataclass
class FpexpConfig:
    """The whole experiment: task, model, data, and where and how to run it."""

    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: Any = MISSING
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 42
    batch_size: int = 65_536
    progress: bool = True
    output: OutputConfig = field(default_factory=OutputConfig)
    reuse: bool = False  # true: take a completed, intact run with the same content key


# The data sources' table (name -> schema, loader, checks): fpexp.data.sources.SOURCES.
NAN_POLICIES = ("error", "drop")
# Input formats: fpexp.data.formats.INPUT_FORMATS; output formats: fpexp.output_formats.


def hidden_widths(model: Any) -> list[int]:
    """The effective hidden widths: ``hidden`` if given, else ``[width] * depth``."""
    if model.hidden is not None:
        return list(model.hidden)
    width = DEFAULT_WIDTH if model.width is None else model.width
    depth = DEFAULT_DEPTH if model.depth is None else model.depth
    return [width] * depth
