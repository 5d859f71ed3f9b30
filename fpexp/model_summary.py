"""``model.txt``: the printed Sequential, a layer table and the parameter totals."""

from __future__ import annotations

from torch import nn


def _width(shape: tuple[int, ...]) -> int | str:
    return shape[0] if len(shape) == 1 else "x".join(str(n) for n in shape)


def layer_rows(
    model: nn.Sequential, in_features: int, shapes: list[tuple[int, ...]] | None = None
) -> list[dict[str, object]]:
    """One row per module: index, type, in -> out width, parameter count.

    ``shapes`` (each module's output shape for one row, batch dimension left out: the dry
    forward pass's) give the widths; without them, ``in_features``/``out_features`` where a
    module has them, else the width passes through.
    """
    rows: list[dict[str, object]] = []
    width: int | str = in_features
    for index, module in enumerate(model):
        if shapes is not None:
            n_in, width = width, _width(shapes[index])
        else:
            n_in = getattr(module, "in_features", width)
            width = getattr(module, "out_features", width)
        params = sum(p.numel() for p in module.parameters())
        rows.append(
            {
                "index": index,
                "type": type(module).__name__,
                "in": n_in,
                "out": width,
                "params": params,
            }
        )
    return rows


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(total, trainable) parameter counts."""
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def render(
    model: nn.Sequential, in_features: int, shapes: list[tuple[int, ...]] | None = None
) -> str:
    rows = layer_rows(model, in_features, shapes)
    type_w = max(len("layer"), *(len(str(r["type"])) for r in rows)) if rows else 5
    lines = [str(model), "", f"{'#':>3}  {'layer':<{type_w}}  {'in -> out':>12}  {'params':>10}"]
    for r in rows:
        shape = f"{r['in']} -> {r['out']}"
        lines.append(f"{r['index']:>3}  {r['type']!s:<{type_w}}  {shape:>12}  {r['params']:>10,}")
    total, trainable = count_parameters(model)
    lines += ["", f"total parameters: {total:,} (trainable: {trainable:,})"]
    return "\n".join(lines) + "\n"
