"""Any env of gymnasium's registry by id, without a plug-in of its own
(learning.plugins.gymnasium_envs): the config checks, the learner and its evaluation on
gymnasium's real Pendulum-v1, and the errors for ids that do not exist or cannot be
built here. Nothing is mocked."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from learning.config import ConfigError, load_configs
from learning.plugins.envs import env_plugin
from learning.plugins.gymnasium_envs import GymnasiumEnvPlugin, gymnasium_ids_like

REPO = Path(__file__).resolve().parents[2]
TINY_PPO = {"num_timesteps": 256, "n_steps": 128, "batch_size": 64, "n_epochs": 1,
            "verbose": 0}


def write_configs(folder: Path, **common) -> Path:
    """config.json choosing a gymnasium id: the shipped PPO defaults with a tiny budget
    and an rl_common_config without evaluation_target_radius (optional now)."""
    folder.mkdir(parents=True, exist_ok=True)
    ppo = json.loads((REPO / "config" / "ppo_default.json").read_text())
    (folder / "ppo.json").write_text(json.dumps({**ppo, **TINY_PPO}))
    rl_common = {"algorithm": "ppo", "random_seed": 3, "log_episodes": False,
                 "evaluation_episodes": 2, **common}
    (folder / "rl_common.json").write_text(json.dumps(rl_common))
    main = folder / "config.json"
    main.write_text(json.dumps({"rl_config": "ppo.json", "rl_common_config": "rl_common.json"}))
    return main


def config_error(main: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_configs(main, check_load_path=False)
    return info.value


def test_a_gymnasium_id_gets_a_generic_plugin(tmp_path):
    config = load_configs(write_configs(tmp_path, env_id="Pendulum-v1"), check_load_path=False)
    plugin = config.env
    assert isinstance(plugin, GymnasiumEnvPlugin) and plugin is env_plugin("Pendulum-v1")
    assert plugin.roles == () and plugin.job_metric_names() == ()
    spaces = plugin.spaces({})
    assert spaces.observation.shape == (3,) and spaces.action.values == 1
    assert config.rl_common["evaluation_target_radius"] == 0.5  # the default filled in
    env = config.make_env()
    try:
        assert env.unwrapped.spec.id == "Pendulum-v1"
    finally:
        env.close()


def test_env_kwargs_go_to_gymnasium_make_and_bad_ones_name_the_key(tmp_path):
    config = load_configs(write_configs(tmp_path, env_id="Pendulum-v1", env_kwargs={"g": 3.7}),
                          check_load_path=False)
    env = config.make_env()
    try:
        assert env.unwrapped.g == 3.7
    finally:
        env.close()
    error = config_error(write_configs(tmp_path, env_id="Pendulum-v1",
                                       env_kwargs={"gravity_typo": 1}))
    assert error.file == str(tmp_path / "rl_common.json") and error.key == "env_kwargs"
    assert "Pendulum-v1 refuses them" in error.problem and "gravity_typo" in error.problem


def test_an_id_gymnasium_does_not_have_names_the_file_and_what_is_valid(tmp_path):
    error = config_error(write_configs(tmp_path, env_id="Pendulum-v9"))
    assert error.file == str(tmp_path / "rl_common.json") and error.key == "env_id"
    assert "gymnasium's registry does not have it (it has Pendulum-v1)" in error.problem
    assert "'learning/TableTennis-v0'" in error.valid and "Pendulum-v1" in error.valid


def test_an_id_that_cannot_be_built_here_suggests_the_version_that_can(tmp_path):
    """gymnasium still registers Hopper-v3, whose constructor wants mujoco-py."""
    assert gymnasium_ids_like("Hopper-v3")[0] == "Hopper-v5"
    error = config_error(write_configs(tmp_path, env_id="Hopper-v3"))
    assert error.key == "env_id" and "Hopper-v3 cannot be built here: ImportError" in error.problem
    assert "e.g. 'Hopper-v5'" in error.valid


def test_the_learner_trains_and_evaluates_pendulum(tmp_path):
    """The real learner in its own process, as a user starts it (`python -m learning`)."""
    main = write_configs(tmp_path / "cfg", env_id="Pendulum-v1")
    result = subprocess.run([sys.executable, "-m", "learning", str(main)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((tmp_path / "logs" / "evaluation.json").read_text())
    assert evaluation["env_id"] == "Pendulum-v1" and evaluation["num_timesteps"] == 256
    assert evaluation["mean_episode_length"] == 200.0 and evaluation["episodes"] == 2
    assert math.isfinite(evaluation["mean_reward"]) and evaluation["mean_reward"] < 0
    assert "hit_rate" not in evaluation



def render(model: Path, configs: Path, gif: Path, backend: str) -> subprocess.CompletedProcess:
    """The rendering's child process, as lttfs render starts it, on one GL backend."""
    return subprocess.run(
        [sys.executable, "-m", "learning.training.render", str(model), str(configs), str(gif),
         "--max-steps", "5"],
        env=dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend),
        capture_output=True, text=True, timeout=300)


def test_a_gymnasium_mujoco_env_renders_and_pendulum_says_what_it_lacks(tmp_path):
    """The rendering builds the run's env by its plug-in: gymnasium's Hopper-v5 renders
    headless as the table tennis does (EGL, else OSMesa); Pendulum-v1 draws with pygame,
    which is not installed: the error says so."""
    import imageio.v3 as iio

    from learning.training.render import render_episode

    main = write_configs(tmp_path / "cfg", env_id="Hopper-v5")
    result = subprocess.run([sys.executable, "-m", "learning", str(main)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    model, configs = tmp_path / "models" / "model.zip", tmp_path / "logs" / "configs"
    gif = tmp_path / "hopper.gif"
    rendered = render(model, configs / "config.json", gif, "egl")
    if rendered.returncode != 0:
        rendered = render(model, configs / "config.json", gif, "osmesa")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    frames = iio.imread(gif, index=None)
    assert 2 <= len(frames) <= 6 and frames.shape[-1] in (3, 4)
    assert frames[0].std() > 0  # a picture, not a blank frame
    pendulum = write_configs(tmp_path / "pend", env_id="Pendulum-v1")
    trained = subprocess.run([sys.executable, "-m", "learning", str(pendulum),
                              f"rl_config.log_path={tmp_path / 'plogs'}",
                              f"rl_config.save_path={tmp_path / 'pm' / 'model.zip'}"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    with pytest.raises(Exception, match="pygame is not installed"):
        render_episode(tmp_path / "pm" / "model.zip",
                       tmp_path / "plogs" / "configs" / "config.json", tmp_path / "p.gif",
                       max_steps=2)
