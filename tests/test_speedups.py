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


RUN = """
import sys
if sys.argv[1] == "plain":
    import fpexp.config.hydra_speedups as speedups
    speedups.install = lambda: None
from fpexp.cli import main
raise SystemExit(main(sys.argv[2:]))
"""


def test_a_single_run_composed_once_records_the_same_hydra_files(tmp_path):
    """get_mode's composition is reused by the run: .hydra/*.yaml are byte for byte the same."""
    files = {}
    for mode in ("plain", "fast"):
        args = ["hydra.run.dir=run", "task=multiclass", "model.width=8", "seed=3"]
        done = subprocess.run(
            [sys.executable, "-c", RUN, mode, *args], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        hydra_dir = tmp_path / "run" / ".hydra"
        files[mode] = {p.name: p.read_text() for p in sorted(hydra_dir.iterdir())}
        (tmp_path / "run").rename(tmp_path / mode)
    assert files["fast"].keys() == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    assert files["fast"] == files["plain"]
    assert "- hydra.mode=RUN" in files["fast"]["hydra.yaml"]
