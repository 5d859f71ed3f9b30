"""The phases of one run, in order: ``validate`` -> ``build`` -> ``forward`` -> ``write``.

Each phase is a function of the previous phase's result, a frozen dataclass holding only what
exists by then (``Checked`` -> ``Built`` -> ``Forwarded``); ``fpexp.pipeline.execute`` runs
them in order and times each into the record. Modules here import torch and the data stack
lazily, inside the functions: ``fpexp.pipeline`` times that import as its own phase.
"""
