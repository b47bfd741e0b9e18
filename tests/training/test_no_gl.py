"""The learner trains whatever MUJOCO_GL says: training never renders, so a GPU node's
``MUJOCO_GL=egl`` without a loadable libEGL, or a value MuJoCo rejects, must not stop it
(real `python -m learning` subprocesses on tiny budgets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_train import REPO, main, make_run, one_cpu, read_json  # noqa: F401 (one_cpu: autouse)

pytestmark = pytest.mark.slow  # every test here trains


def broken_egl(folder: Path) -> dict[str, str]:
    """Environment variables under which MUJOCO_GL=egl cannot load EGL: libEGL.so.1 (and
    libEGL.so) on LD_LIBRARY_PATH are files that are no shared library, found before the
    system's (PyOpenGL's EGL platform then has no library and MuJoCo's import raises)."""
    folder.mkdir()
    for name in ("libEGL.so.1", "libEGL.so"):
        (folder / name).write_text("not a shared library\n")
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("LD_LIBRARY_PATH")) if p)
    return {"MUJOCO_GL": "egl", "PYOPENGL_PLATFORM": "egl", "LD_LIBRARY_PATH": path}


def python(cwd: Path, args: list[str], variables: dict[str, str]) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), **variables)
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def test_mujoco_import_fails_under_the_broken_egl(tmp_path):
    """The premise of the next test: this environment really breaks ``import mujoco``."""
    result = python(tmp_path, ["-c", "import mujoco"], broken_egl(tmp_path / "egl"))
    assert result.returncode != 0
    assert "EGL" in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize("variables", [
    pytest.param("broken egl", id="egl-without-libEGL"),
    pytest.param({"MUJOCO_GL": "nonsense"}, id="unknown-backend"),
])
def test_learner_trains_whatever_mujoco_gl_says(tmp_path, variables):
    if variables == "broken egl":
        variables = broken_egl(tmp_path / "egl")
    config = make_run(tmp_path, rl={"n_envs": 2, "vec_env": "subproc", "n_steps": 32})
    result = python(tmp_path, ["-m", "learning", str(config)], variables)
    assert result.returncode == 0, result.stderr[-3000:]
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert info["status"] == "finished" and info["num_timesteps"] == 128
    assert read_json(tmp_path / "logs" / "evaluation.json")["episodes"] == 2


def test_rendering_still_honours_mujoco_gl(tmp_path, monkeypatch):
    """The learner's MUJOCO_GL=disable stays in the learner: the render process (the
    inspection's --render child) loads the backend MUJOCO_GL names, and says so when it
    cannot."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MUJOCO_GL", "osmesa")
    assert main([str(make_run(tmp_path))]) == 0
    assert os.environ["MUJOCO_GL"] == "osmesa"  # in-process: the caller's value is back
    render = ["-m", "learning.training.render", "models/model.zip", "logs/configs/config.json"]
    failed = python(tmp_path, [*render, "broken.gif", "--max-steps", "2"],
                    broken_egl(tmp_path / "egl"))
    assert failed.returncode != 0 and "EGL" in failed.stderr, failed.stderr[-2000:]
    assert not (tmp_path / "broken.gif").exists()
    osmesa = {"MUJOCO_GL": "osmesa", "PYOPENGL_PLATFORM": "osmesa"}
    rendered = python(tmp_path, [*render, "osmesa.gif", "--max-steps", "2"], osmesa)
    if rendered.returncode != 0 and "OSMesa" in rendered.stderr:
        pytest.skip(f"no OSMesa on this machine: {rendered.stderr.strip().splitlines()[-1:]}")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert (tmp_path / "osmesa.gif").stat().st_size > 0
