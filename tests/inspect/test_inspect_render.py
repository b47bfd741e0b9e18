"""--render: a GIF of the best job's final policy, rendered headless (EGL or OSMesa)."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest


@pytest.mark.slow
def test_render_writes_a_moving_gif(sweep_root, inspect_cli, tmp_path):
    gif = tmp_path / "best.gif"
    code, out, err = inspect_cli(sweep_root, "--render", "--render-output", gif, "--no-report")
    assert code == 0, err
    assert "rendered the best job's final policy" in out
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
