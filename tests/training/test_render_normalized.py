"""Rendering a policy trained with rl_config.normalize: it sees its observations through
the statistics saved beside its model, and says so when they are missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = ["rl_config.normalize=true", "rl_config.num_timesteps=64", "rl_config.n_steps=64",
        "rl_config.batch_size=32", "rl_config.n_epochs=1", "rl_config.verbose=0",
        "rl_common_config.evaluation_episodes=1", "rl_common_config.random_seed=0"]


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(REPO), **env), timeout=300)


@pytest.mark.slow
def test_render_uses_the_saved_statistics(tmp_path):
    trained = run(["-m", "learning", str(REPO / "config" / "config.json"), *TINY], tmp_path)
    assert trained.returncode == 0, trained.stderr
    model = tmp_path / "models" / "model.zip"
    configs = tmp_path / "logs" / "configs" / "config.json"
    render = ["-m", "learning.training.render", str(model), str(configs), str(tmp_path / "a.gif"),
              "--max-steps", "5"]
    result = run(render, tmp_path, MUJOCO_GL="osmesa", PYOPENGL_PLATFORM="osmesa")
    assert result.returncode == 0, result.stderr
    assert len(iio.imread(tmp_path / "a.gif", index=None)) == 6
    (tmp_path / "models" / "model_vecnormalize.pkl").unlink()
    result = run(render, tmp_path, MUJOCO_GL="osmesa", PYOPENGL_PLATFORM="osmesa")
    assert result.returncode != 0
    assert "the normalization statistics of" in result.stderr and "are missing" in result.stderr
