"""Hydra speed-ups change nothing but speed: composed configs are identical with and without."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf
from fpexp.config.store import CONFIG_NAME, config_dir, register
register()
if sys.argv[1] == "fast":
    from fpexp.config import hydra_speedups
    hydra_speedups.install()
out = []
for overrides in (["task=multiclass", "model.width=8"], ["data=synthetic", "seed=3"], []):
    for _ in range(2):
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            cfg = compose(CONFIG_NAME, overrides=overrides, return_hydra_config=True)
        tree = OmegaConf.to_container(cfg, resolve=False)
        tree["hydra"]["runtime"].pop("output_dir", None)
        out.append(tree)
print(json.dumps(out, sort_keys=True))
"""


def _compose_all(mode: str, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout


def test_cached_composition_is_identical(tmp_path):
    assert _compose_all("fast", tmp_path) == _compose_all("plain", tmp_path)
