"""rl_config against the machine: log_path/save_path that are (below) files or folders and
load_path files that are no model of this algorithm and env are config errors naming the
key (they were a raw FileExistsError, or stable-baselines3's own exceptions, retried by the
job as crashes). The models here are real stable-baselines3 saves (no training)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gymnasium as gym
import pytest
from stable_baselines3 import PPO, SAC

from learning.config import ConfigError, load_configs


def saved_model(path: Path, cls, env) -> str:
    """A new, untrained model saved as stable-baselines3 saves it."""
    small = {"buffer_size": 100} if cls is SAC else {"n_steps": 64}
    cls("MlpPolicy", env, device="cpu", **small).save(path)
    return str(path)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    from learning.envs.table_tennis_v0 import TableTennisEnv

    folder = tmp_path_factory.mktemp("models")
    table_tennis = TableTennisEnv()
    out = {"sac": saved_model(folder / "sac.zip", SAC, table_tennis),
           "ppo": saved_model(folder / "ppo.zip", PPO, table_tennis),
           "ppo_pendulum": saved_model(folder / "pendulum.zip", PPO, gym.make("Pendulum-v1"))}
    table_tennis.close()
    text = folder / "notes.zip"
    text.write_text("not a zip")
    archive = folder / "archive.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "a zip, but no model")
    out.update(text=str(text), archive=str(archive))
    return out


@pytest.mark.parametrize("rl, key, problem", [
    ({"log_path": "config/reward.json"}, "log_path", "reward.json is a file"),
    ({"log_path": "config/reward.json/logs"}, "log_path",
     "reward.json (part of 'config/reward.json/logs') is a file, not a folder"),
    ({"save_path": "config/reward.json/model.zip"}, "save_path", "is a file, not a folder"),
    ({"save_path": "config.zip"}, "save_path", "config.zip is a folder"),
])
def test_paths_that_cannot_be_written(config_dir, load_with_rl, rl, key, problem):
    (config_dir.parent / "config.zip").mkdir()
    with pytest.raises(ConfigError) as info:
        load_with_rl(**rl)
    assert info.value.key == key and problem in info.value.problem, info.value


@pytest.mark.parametrize("algorithm, model, problem", [
    ("ppo", "text", "is not a stable-baselines3 model (not a zip file)"),
    ("ppo", "archive", "is not a stable-baselines3 model (a zip without stable-baselines3's"),
    ("ppo", "sac", "is a SAC model, the algorithm is 'ppo'"),
    ("sac", "ppo", "is a PPO model, the algorithm is 'sac'"),
    ("ppo", "ppo_pendulum", "an env whose observation_space has shape [3]"),
])
def test_load_path_that_is_no_model_for_this_run(load_with_rl, models, algorithm, model, problem):
    with pytest.raises(ConfigError) as info:
        load_with_rl(algorithm, load_path=models[model])
    assert info.value.key == "load_path" and problem in info.value.problem, info.value
    assert "saved by the learner" in info.value.valid


@pytest.mark.parametrize("algorithm", ["ppo", "sac"])
def test_a_model_of_this_algorithm_loads(load_with_rl, models, algorithm):
    assert load_with_rl(algorithm, load_path=models[algorithm]).rl["load_path"]


def test_checks_of_merged_configs_leave_the_machine_alone(config_dir):
    """The job's and the sweep's checks (check_load_path=False) may run on another machine
    (a login node) and set the paths per attempt: they skip these checks."""
    path = config_dir / "ppo_default.json"
    path.write_text(json.dumps(dict(json.loads(path.read_text()), log_path="config/pam.json")))
    load_configs(config_dir / "config.json", check_load_path=False)
