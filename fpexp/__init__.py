"""fpexp: configuration-driven experiments for PyTorch forward passes.

Data flow: config schema -> builder -> data -> runner -> record -> commands.
Importing this package is cheap: torch, pyarrow and Hydra load only where used.
"""

__version__ = "0.1.0"
