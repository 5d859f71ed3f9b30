"""The MLP's shape for a run: ``in_features``, hidden widths, bias and norm.

From the config, or, when ``model.weights`` is given and none of ``hidden``, ``width``,
``depth``, ``layers`` is, read from the weights (``weights_shape.infer_mlp``) and checked
against the rest of the config and the data. The weights read here go on to
``initial_weights.apply``, so a file is read once.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fpexp.errors import Problem, UsageError

if TYPE_CHECKING:
    from fpexp.checkpoints import StateDict
    from fpexp.initial_weights import Choice
    from fpexp.record import RunRecord

log = logging.getLogger("fpexp")

WIDTH_KEYS = ("hidden", "width", "depth", "layers")


@dataclass(frozen=True)
class ModelShape:
    in_features: int
    hidden: list[int]
    bias: bool
    norm: str
    weights: StateDict | None = None  # the chosen weights, read (None: initialised)
    from_weights: bool = False
    notes: tuple[str, ...] = ()

    @classmethod
    def from_config(
        cls, model: Any, in_features: int, weights: StateDict | None = None
    ) -> ModelShape:
        """The shape the config gives (widths from ``hidden`` or ``width``/``depth``)."""
        from fpexp.config.schema import hidden_widths

        bias, norm = bool(model.bias), str(model.get("norm", "none"))
        return cls(in_features, hidden_widths(model), bias, norm, weights)

    def lines(self) -> list[str]:
        """For the console: what was read from the weights, and what could not be."""
        if not self.from_weights:
            return []
        bias = "true" if self.bias else "false"
        read = f"in_features {self.in_features}, bias {bias}, norm {self.norm}"
        return [f"hidden {self.hidden} from weights ({read})", *(f"note: {n}" for n in self.notes)]

    def report(self, record: RunRecord) -> None:
        """Say ``lines`` on the console (and in fpexp.log); ``record`` puts them in run.json."""
        console = record.data["command"].get("mode") != "MULTIRUN"
        for line in self.lines():
            log.info("%s", line, extra={"console": console})

    def record(self) -> dict[str, Any]:
        """For run.json's ``model``: the values that came from the weights, and the notes on
        what they cannot say (here, not in the top-level ``notes``, which end the record)."""
        if not self.from_weights:
            return {}
        read = {"in_features": self.in_features, "hidden": self.hidden}
        notes = {"notes": list(self.notes)} if self.notes else {}
        return {"from_weights": {**read, "bias": self.bias, "norm": self.norm}, **notes}


def widths_from_weights(model: Any) -> bool:
    """``model.weights`` given and no width (nor a layer list): the weights say the widths."""
    return bool(model.get("weights")) and all(model.get(k) is None for k in WIDTH_KEYS)


def decide(model: Any, choice: Choice, feature_names: list[str], out_features: int) -> ModelShape:
    """The shape of the model to build (``UsageError`` when the weights cannot give it)."""
    weights = _read(model, choice)
    if weights is None or not widths_from_weights(model):
        return ModelShape.from_config(model, len(feature_names), weights)
    from fpexp.weights_shape import config_problems, infer_mlp, is_mlp_key

    weights = weights.strip(lambda keys: all(is_mlp_key(k) for k in keys))
    where = str(weights.path)
    shape = infer_mlp({k: list(v.shape) for k, v in weights.tensors.items()}, where)
    if isinstance(shape, Problem):
        raise UsageError([shape])
    problems, notes = config_problems(shape, model, out_features, where)
    problems = _width_problems(shape.in_features, feature_names, where) + problems
    if problems:
        raise UsageError(problems)
    return ModelShape(
        shape.in_features, shape.hidden, shape.bias, shape.norm, weights, True, tuple(notes)
    )


def _read(model: Any, choice: Choice) -> StateDict | None:
    """The chosen weights; a rerun's own saved file is flat, so key and prefix are not used."""
    from fpexp.weights import load_state

    if choice.path is None:
        return None
    if choice.origin == "rerun":
        return load_state(choice.path)
    return load_state(choice.path, model.get("weights_key"), model.get("weights_prefix"))


def _width_problems(in_features: int, feature_names: Collection[str], where: str) -> list[Problem]:
    from fpexp.weights import feature_list

    if in_features == len(feature_names):
        return []
    what = f"{where} takes {in_features} input features, but {feature_list(list(feature_names))}"
    allowed = f"data.features naming {in_features} columns, or weights for this data"
    return [Problem("model.weights", what, allowed)]
