"""One experiment, start to end: validate -> build -> forward -> write -> record.

``run_experiment`` is a plain function of a composed config and a run directory; the Hydra
entry point (``cli.py``) only gathers the context and calls it, so tests can call it directly.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from fpexp import __version__, initial_weights
from fpexp.config.validate import check_config, check_in_features
from fpexp.errors import Interrupted, UsageError
from fpexp.record import RunRecord

log = logging.getLogger("fpexp")

MODEL_FILE, WEIGHTS_FILE = "model.txt", "weights.safetensors"
OUTPUTS_FILE, PREDICTIONS_FILE = "outputs.csv", "predictions.csv"
LAYERS_FILE = "layers.csv"
last_run_dir: Path | None = None  # the run directory of the latest run_experiment call


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into ``Interrupted`` so the record says so (main thread only)."""

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_experiment(
    cfg: DictConfig, run_dir: Path, context: dict[str, Any] | None = None
) -> RunRecord:
    """Run the experiment described by ``cfg`` into ``run_dir`` and return its record.

    Raises ``UsageError`` for bad input, after recording ``failed`` with the message.
    """
    from fpexp.environment import environment

    context = dict(context or {})
    cwd = Path(context.pop("cwd", Path.cwd()))
    past = initial_weights.reproducing()
    if past is not None:
        context["rerun_of"] = str(past.run_dir)
    record = RunRecord(
        run_dir,
        fpexp_version=__version__,
        run_dir=str(Path(run_dir).resolve()),
        command={"cwd": str(cwd), **context},
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    record.save()
    global last_run_dir
    last_run_dir = record.run_dir
    try:
        with _sigterm_as_interrupt():
            with record.phase("environment"):
                record.update(environment=environment(cwd))
            _execute(cfg, record)
    except UsageError as err:
        record.discard_outputs()
        record.finish("failed", err.message)
        raise
    except (KeyboardInterrupt, Interrupted) as err:
        record.discard_outputs()
        record.finish("interrupted", f"interrupted ({type(err).__name__} {err})".strip())
        raise
    except BaseException as err:
        record.discard_outputs()
        record.finish("failed", f"{type(err).__name__}: {err}")
        raise
    record.finish("completed")
    return record


def _execute(cfg: DictConfig, record: RunRecord) -> None:
    with record.phase("import"):
        import torch

        from fpexp.builder import build_model
        from fpexp.config.schema import hidden_widths
        from fpexp.console import show_results
        from fpexp.data import open_source
        from fpexp.devices import DTYPES, device_problems, resolve_device
        from fpexp.heads import Head
        from fpexp.layer_stats import LayerStats
        from fpexp.model_summary import count_parameters, render
        from fpexp.runner import forward
        from fpexp.writers import write_layers, write_outputs, write_predictions

    with record.phase("validate"):
        problems = check_config(cfg)
        source = choice = None
        if not any(p.key.startswith("data.") for p in problems):
            source = open_source(cfg.data)
            record.update(input=source.describe())
            n_features = int(source.describe()["features"])
            problems += check_in_features(cfg.model, n_features, source.name)
            resolved = record.data["config"]
            choice = initial_weights.choose(
                resolved, n_features, Path(record.data["command"]["cwd"])
            )
            problems += initial_weights.problems(choice)
        problems += device_problems(str(cfg.device))
        if problems:
            raise UsageError(problems)

    with record.phase("build"):
        head = Head.from_config(cfg.task)
        device, dtype = resolve_device(str(cfg.device)), DTYPES[cfg.dtype]
        in_features = int(source.describe()["features"])
        torch.manual_seed(int(cfg.seed))
        hidden = hidden_widths(cfg.model)
        model = build_model(in_features, hidden, cfg.model.activation, bool(cfg.model.bias), head)
        record.update(weights=initial_weights.apply(model, choice))
        model = model.to(device=device, dtype=dtype)
        total, trainable = count_parameters(model)
        record.update(
            device=str(device),
            dtype=cfg.dtype,
            seed=int(cfg.seed),
            torch_threads=torch.get_num_threads(),
            model={
                "repr": str(model),
                "in_features": in_features,
                "hidden": hidden,
                "width": hidden[0] if hidden and len(set(hidden)) == 1 else None,
                "depth": len(hidden),
                "parameters": total,
                "trainable": trainable,
            },
        )

    with record.phase("forward"):
        stats = LayerStats(model)
        try:
            result = forward(model, source, head, device, dtype)
        finally:
            stats.remove()

    with record.phase("write"):
        from fpexp.atomic import write_text
        from fpexp.weights import save_weights

        run_dir = record.run_dir
        write_text(run_dir / MODEL_FILE, render(model, in_features))
        record.add_output(MODEL_FILE, "model")
        save_weights(model, run_dir / WEIGHTS_FILE)
        record.add_output(WEIGHTS_FILE, "weights")
        write_outputs(run_dir / OUTPUTS_FILE, result, head)
        record.add_output(OUTPUTS_FILE, "outputs")
        write_predictions(run_dir / PREDICTIONS_FILE, result, head)
        record.add_output(PREDICTIONS_FILE, "predictions")
        layers = stats.table()
        write_layers(run_dir / LAYERS_FILE, layers)
        record.add_output(LAYERS_FILE, "layers")
        record.update(results=_summarise(result, head), layers=layers)

    show_results(model, result, head, console=record.data["command"].get("mode") != "MULTIRUN")


def _summarise(result: Any, head: Any) -> dict[str, Any]:
    """Small figures for listings and sweep tables: rows, output mean/std, class counts."""
    outputs = result.outputs.float()
    summary: dict[str, Any] = {
        "rows": int(outputs.shape[0]),
        "output_mean": dict(zip(head.output_names(), outputs.mean(0).tolist(), strict=True)),
        "output_std": dict(
            zip(head.output_names(), outputs.std(0, correction=0).tolist(), strict=True)
        ),
    }
    if head.is_classification:
        counts = result.predictions.bincount(minlength=len(head.classes)).tolist()
        summary["predicted_counts"] = dict(zip(head.classes, counts, strict=True))
    return summary
