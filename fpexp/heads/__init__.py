"""Task heads: one class per ``task.kind``, one module each, found by ``registry``.

``Head.from_config(cfg.task)`` gives the right head; ``named`` settles its class names once the
data is known. Nothing here imports torch until a head builds its activation or reads outputs.
"""

from fpexp.heads.base import COLUMNS, GIVEN, INDICES, LESSON, Head
from fpexp.heads.checks import RESERVED_COLUMNS
from fpexp.heads.registry import (
    head_class,
    head_of_record,
    heads,
    kinds,
    label_problems,
    task_problems,
)

__all__ = [
    "COLUMNS",
    "GIVEN",
    "INDICES",
    "LESSON",
    "RESERVED_COLUMNS",
    "Head",
    "head_class",
    "head_of_record",
    "heads",
    "kinds",
    "label_problems",
    "task_problems",
]
