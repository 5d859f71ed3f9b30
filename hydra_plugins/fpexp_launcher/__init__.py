"""fpexp's Hydra launcher plugin (see ``fpexp/launcher.py``)."""
