"""The build phase: the task head, the model (seeded, on its device and dtype) and its weights.

Making the head, building the model and applying the weights are one short function each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from fpexp import initial_weights
from fpexp.phases.validate import Checked
from fpexp.record import RunRecord

if TYPE_CHECKING:
    import torch
    from torch import nn

    from fpexp.builder import Built as Architecture
    from fpexp.data import Source
    from fpexp.heads import Head
    from fpexp.model_shape import ModelShape


@dataclass(frozen=True)
class Built:
    """A model ready to run: built, on its device and dtype, with its weights loaded."""

    checked: Checked
    head: Head
    model: nn.Sequential
    device: torch.device
    dtype: torch.dtype
    shapes: list[tuple[int, ...]]  # each module's output shape per row, from the dry run

    @property
    def source(self) -> Source:
        return self.checked.source


def build(cfg: DictConfig, record: RunRecord, checked: Checked) -> Built:
    """Make the head and the model, load the chosen weights, and record the model."""
    import torch

    from fpexp.devices import DTYPES, resolve_device
    from fpexp.model_shape import decide
    from fpexp.model_summary import count_parameters

    head = make_head(cfg, checked.source)
    device, dtype = resolve_device(str(cfg.device)), DTYPES[cfg.dtype]
    in_features = checked.in_features
    names = list(checked.source.feature_names)
    shape = decide(cfg.model, checked.weights, names, head.out_features)
    shape.report(record)  # widths read from the weights: on the console and in run.json
    _check_measured(cfg, checked, shape, head)  # a layer list's size, before allocating it
    built = build_model(cfg, shape, head)
    model = built.model
    _check_size(cfg, checked, model, built)
    # initialised in float32 on the CPU (the same weights everywhere), then moved; loaded
    # weights are cast straight to the model's dtype and checked as cast
    model = model.to(device=device, dtype=dtype)
    record.update(weights=apply_weights(model, checked, shape))
    total, trainable = count_parameters(model)
    record.update(
        device=str(device),
        dtype=cfg.dtype,
        seed=int(cfg.seed),
        torch_threads=torch.get_num_threads(),
        batch_size=int(cfg.batch_size),
        classes=head.record(),
        model={
            "repr": str(model),
            "in_features": in_features,
            **built.record(),
            "parameters": total,
            "trainable": trainable,
            **shape.record(),
        },
    )
    return Built(checked, head, model, device, dtype, built.shapes)


def make_head(cfg: DictConfig, source: Source) -> Head:
    """The task head, with the class names the data gives (if any)."""
    from fpexp.heads import Head

    lesson, columns = getattr(source, "class_names", None), getattr(source, "label_names", None)
    return Head.from_config(cfg.task).named(lesson, columns)


def build_model(cfg: DictConfig, shape: ModelShape, head: Head) -> Architecture:
    """The model in float32 on the CPU, its initial weights drawn from ``cfg.seed``."""
    import torch

    from fpexp.builder import build

    torch.manual_seed(int(cfg.seed))
    return build(cfg.model, shape, head)


def _check_size(cfg: DictConfig, checked: Checked, model: nn.Module, built: Architecture) -> None:
    """The memory guard again, with the built model's measured size (a layer list's size is
    known only once built), before anything is moved or run."""
    from fpexp.config import sizes
    from fpexp.errors import UsageError
    from fpexp.model_summary import count_parameters

    n_in = checked.in_features
    measured = (count_parameters(model)[0], built.widest(n_in))
    rows = checked.source.describe().get("rows")
    if too_big := sizes.size_problems(cfg, checked.available, n_in, rows, measured):
        raise UsageError(too_big)


def _check_measured(cfg: DictConfig, checked: Checked, shape: ModelShape, head: Head) -> None:
    from fpexp.builder import measure
    from fpexp.config import sizes
    from fpexp.errors import UsageError

    if (measured := measure(cfg.model, shape, head)) is None:
        return
    rows = checked.source.describe().get("rows")
    n_in = checked.in_features
    if too_big := sizes.size_problems(cfg, checked.available, n_in, rows, measured):
        raise UsageError(too_big)


def apply_weights(model: nn.Module, checked: Checked, shape: ModelShape) -> dict[str, object]:
    """Load the weights chosen in validation (already read into ``shape`` when widths came
    from them) into ``model``; what run.json says of them."""
    names = list(checked.source.feature_names)
    return initial_weights.apply(model, checked.weights, names, shape.weights)
