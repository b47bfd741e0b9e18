"""--render: a GIF of the best job's final policy, rendered headless (EGL or OSMesa)."""

from __future__ import annotations

from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from learning.training.render import render_best


@pytest.mark.slow
def test_render_writes_a_moving_gif(sweep_root, inspect_cli, tmp_path):
    gif = tmp_path / "best.gif"
    code, out, err = inspect_cli(sweep_root, "--render", "--render-output", gif, "--no-report")
    assert code == 0, err
    assert "rendered the best job's final policy (MUJOCO_GL=" in out
    assert gif.stat().st_size > 0
    frames = iio.imread(gif, index=None)
    assert frames.ndim == 4 and len(frames) > 5 and frames.shape[-1] == 3
    assert frames[0].std() > 5  # a lit scene, not a black image
    assert any(not np.array_equal(frames[0], frame) for frame in frames[1:])


@pytest.mark.slow
def test_render_without_a_final_model_says_why(sweep_copy, inspect_cli, tmp_path):
    for model in sweep_copy.glob("best_jobs/*/run_*/model.zip"):
        model.unlink()
    code, out, err = inspect_cli(sweep_copy, "--render", "--render-output",
                                 tmp_path / "x.gif", "--no-report")
    assert code == 1
    assert "error: --render:" in err and "model.zip" in err and "is missing" in err
    assert "rerun the best job" in out  # the rest is still shown
    assert not (tmp_path / "x.gif").exists()


@pytest.mark.slow
def test_render_falls_back_to_the_next_gl_backend(sweep_root, tmp_path, monkeypatch):
    """A backend that cannot start (here: a name MuJoCo rejects) -> the next one (OSMesa)."""
    from learning.analysis.results import load_sweep

    monkeypatch.delenv("MUJOCO_GL", raising=False)
    best = load_sweep(sweep_root).jobs.iloc[0]
    gif = tmp_path / "osmesa.gif"
    output, backend, failures = render_best(Path(best["job_dir"]), gif, "mean_eval_reward",
                                            max_steps=5, backends=("no-such-gl", "osmesa"))
    assert output == gif and backend == "osmesa"
    assert len(failures) == 1 and failures[0].startswith("MUJOCO_GL=no-such-gl: exit 1")
    assert len(iio.imread(gif, index=None)) == 6  # reset + 5 steps
