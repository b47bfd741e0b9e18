"""learning.config: the shipped defaults load; every kind of bad config is a ConfigError
naming the file and the dotted key; `python -m learning` prints it without a traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from learning.config import ConfigError, load_configs, rl_schema
from learning.plugins.envs import env_plugin

#: the roles of the default env's config.json: the table tennis's own, then the common ones
ROLES = env_plugin().config_roles

REPO = Path(__file__).resolve().parents[2]
ROLE_FILES = {
    "reward_config": "reward.json",
    "hysr_config": "hysr.json",
    "pam_config": "pam.json",
    "rl_config": "ppo_default.json",
    "rl_common_config": "rl_common.json",
}


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def config_error(config_dir: Path, main: str = "config.json") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_configs(config_dir / main)
    return info.value


@pytest.mark.parametrize("main, algorithm", [("config.json", "ppo"), ("config_sac.json", "sac")])
def test_shipped_defaults_load(config_dir, main, algorithm):
    from torch import nn

    config = load_configs(config_dir / main)
    assert config.algorithm == algorithm
    assert set(config.roles) == set(ROLES)
    sizes = [config.rl["num_hidden"]] * config.rl["num_layers"]
    critic = "vf" if algorithm == "ppo" else "qf"
    # stable-baselines3's own policy defaults, the networks num_layers x num_hidden
    expected = {"net_arch": {"pi": sizes, critic: sizes}, "activation_fn": nn.Tanh,
                "log_std_init": 0.0, "ortho_init": True}
    if algorithm == "sac":
        expected.update(activation_fn=nn.ReLU, log_std_init=-3.0)
        del expected["ortho_init"]
    assert config.policy_kwargs() == expected
    assert config.rl["normalize"] == {"norm_obs": False, "norm_reward": False,
                                      "clip_obs": 10.0, "clip_reward": 10.0}
    for key in ("num_timesteps", "policy_kwargs", "normalize", "num_layers"):
        assert key not in config.sb3_kwargs()


def test_missing_config_json(config_dir):
    error = config_error(config_dir, "nope.json")
    assert error.file.endswith("nope.json") and error.key == "(file)"
    assert "not found" in str(error)


@pytest.mark.parametrize("role", ROLES)
def test_missing_role_file(config_dir, role):
    (config_dir / ROLE_FILES[role]).unlink()
    error = config_error(config_dir)
    assert error.file.endswith("config.json") and error.key == role
    assert ROLE_FILES[role] in str(error) and "file not found" in str(error)


def test_config_json_unknown_and_missing_role(config_dir):
    edit(config_dir / "config.json", lambda d: d.update(rewards_config="reward.json"))
    error = config_error(config_dir)
    assert error.key == "rewards_config" and "did you mean 'reward_config'" in str(error)
    assert all(role in error.valid for role in ROLES)
    edit(config_dir / "config.json", lambda d: (d.pop("rewards_config"), d.pop("pam_config")))
    error = config_error(config_dir)
    assert (error.key, error.problem) == ("pam_config", "missing key")


def test_invalid_json(config_dir):  # more bad files: tests/config/test_bad_files.py
    (config_dir / "reward.json").write_text('{"normalization_constant": 3.0,,}')
    error = config_error(config_dir)
    assert error.file.endswith("reward.json") and error.key == "(json)" and "line 1" in str(error)


@pytest.mark.parametrize("role", ROLES)
def test_unknown_key(config_dir, role):
    edit(config_dir / ROLE_FILES[role], lambda d: d.update(not_a_key=1))
    error = config_error(config_dir)
    assert error.file.endswith(ROLE_FILES[role]) and error.key == "not_a_key"
    assert "unknown key" in error.problem
    first_key = next(iter(json.loads((REPO / "config" / ROLE_FILES[role]).read_text())))
    assert first_key in error.valid  # lists the valid keys


@pytest.mark.parametrize("role", ROLES)
def test_missing_key(config_dir, role):
    key = "num_timesteps" if role == "rl_config" else None

    def drop(data):
        nonlocal key
        key = key or next(iter(data))
        data.pop(key)

    edit(config_dir / ROLE_FILES[role], drop)
    error = config_error(config_dir)
    assert error.file.endswith(ROLE_FILES[role])
    assert (error.key, error.problem) == (key, "missing key")


def test_mistyped_rl_key_gets_a_suggestion(config_dir):
    edit(config_dir / "ppo_default.json", lambda d: d.update(learning_rat=0.1))
    error = config_error(config_dir)
    assert error.key == "learning_rat" and "did you mean 'learning_rate'" in error.problem


def test_rl_keys_follow_the_algorithm(config_dir):
    # a SAC argument in a PPO run's rl_config
    edit(config_dir / "ppo_default.json", lambda d: d.update(buffer_size=1000))
    error = config_error(config_dir)
    assert error.key == "buffer_size" and "'ppo'" in error.problem
    assert "n_epochs" in error.valid and "num_hidden" in error.valid
    assert "buffer_size" in rl_schema("sac") and "n_epochs" not in rl_schema("sac")
    assert "policy" not in rl_schema("ppo") and "seed" not in rl_schema("ppo")


def _first_number_key(data, prefix=""):
    for key, value in data.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return prefix + key
        if isinstance(value, list) and value and isinstance(value[0], (int, float)):
            return f"{prefix}{key}:0"
    return None


def _set(data, dotted, value):
    *parents, last = dotted.split(".")
    for part in parents:
        data = data[part]
    name, *indexes = last.split(":")
    if not indexes:
        data[name] = value
        return
    data = data[name]
    for index in indexes[:-1]:
        data = data[int(index)]
    data[int(indexes[-1])] = value


@pytest.mark.parametrize(
    "role, key, value, expected",
    [
        ("reward_config", "normalization_constant", "3", "a number"),
        ("reward_config", "smash", 1, "true or false"),
        ("hysr_config", "mujoco_time_step", "fast", "a number"),
        ("hysr_config", "world_boundaries.min:2", "low", "a number"),
        ("hysr_config", "trajectory", 1.5, "an integer"),
        ("hysr_config", "robot_position", [0.0, 0.0], "a list of 3 items"),
        ("hysr_config", "world_boundaries", [0, 1], "an object with keys"),
        ("pam_config", None, "high", "a"),  # "a number" or "an integer"
        ("rl_config", "n_steps", 64.5, "an integer"),
        ("rl_config", "learning_rate", "0.1", "a number"),
        ("rl_config", "log_path", 3, "a string"),
        ("rl_common_config", "evaluation_episodes", "50", "an integer"),
        ("rl_common_config", "log_episodes", "yes", "true or false"),
        ("rl_common_config", "random_seed", 1.5, "null or an integer"),
        ("rl_common_config", "torch_threads", "2", "an integer >= 1"),
        ("rl_common_config", "checkpoint_interval", 1e4, "an integer >= 0"),
        ("rl_config", "n_envs", 2.5, "an integer"),
        ("rl_config", "vec_env", 1, "a string"),
    ],
)
def test_wrong_type(config_dir, role, key, value, expected):
    path = config_dir / ROLE_FILES[role]
    key = key or _first_number_key(json.loads(path.read_text()))
    edit(path, lambda d: _set(d, key, value))
    error = config_error(config_dir)
    assert error.file.endswith(ROLE_FILES[role]) and error.key == key
    assert expected in error.valid


@pytest.mark.parametrize(
    "role, key, value, expected",
    [
        ("reward_config", "normalization_constant", 0.0, "(0, inf)"),
        ("hysr_config", "mujoco_time_step", -0.001, "(0, inf)"),
        ("hysr_config", "trajectory", -2, "[-1, inf)"),
        # checked by the env alone before: the learner exited 1 and the job retried it
        ("hysr_config", "ball_launch_position_max:1", 9.0, "world_boundaries.min:1..max:1"),
        ("pam_config", "torque_per_bar_ago:1", 0.0, "(0, inf)"),
        ("pam_config", "torque_per_bar_antago:3", -1.0, "(0, inf)"),
        ("pam_config", "stiffness_per_bar:0", -0.5, "[0, inf)"),
        ("pam_config", "joint_damping:2", -0.1, "[0, inf)"),
        ("rl_config", "gamma", 1.5, "[0, 1]"),
        ("rl_config", "learning_rate", 0, "(0, inf)"),
        ("rl_config", "num_timesteps", 0, "an integer >= 1 (0 only with a load_path"),
        ("rl_config", "num_timesteps", -5, "an integer >= 1"),
        ("rl_config", "num_layers", 0, "[1, inf)"),
        ("rl_config", "save_path", "models/model", "ending in .zip"),
        ("rl_config", "load_path", "missing.zip", "a saved model .zip"),
        ("rl_common_config", "algorithm", "dqn", "ppo, sac"),
        ("rl_common_config", "random_seed", -1, "[0, 4294967295]"),
        ("rl_common_config", "evaluation_episodes", 0, "[1, inf)"),
        ("rl_common_config", "evaluation_target_radius", 0, "(0, inf)"),
        ("rl_common_config", "torch_threads", 0, "[1, inf)"),
        ("rl_common_config", "checkpoint_interval", -1, "[0, inf)"),
        ("rl_config", "n_envs", 0, "[1, inf)"),
        ("rl_config", "vec_env", "threads", '"dummy" or "subproc"'),
    ],
)
def test_out_of_range(config_dir, role, key, value, expected):
    edit(config_dir / ROLE_FILES[role], lambda d: _set(d, key, value))
    error = config_error(config_dir)
    assert error.file.endswith(ROLE_FILES[role]) and error.key == key
    assert expected in error.valid


@pytest.mark.parametrize("main", ["config.json", "config_sac.json"])
def test_optional_keys_get_their_defaults(config_dir, main):
    """Configs written before n_envs, vec_env, torch_threads and checkpoint_interval
    existed still load."""
    roles = json.loads((config_dir / main).read_text())
    edit(config_dir / roles["rl_config"], lambda d: (d.pop("n_envs"), d.pop("vec_env")))
    edit(config_dir / roles["rl_common_config"],
         lambda d: (d.pop("torch_threads"), d.pop("checkpoint_interval")))
    config = load_configs(config_dir / main)
    assert (config.rl["n_envs"], config.rl["vec_env"]) == (1, "dummy")
    assert config.rl_common["torch_threads"] == 1
    assert config.rl_common["checkpoint_interval"] == 50_000
    assert not {"n_envs", "vec_env", "torch_threads"} & set(config.sb3_kwargs())


def test_algo_time_step_multiple_of_mujoco_time_step(config_dir):
    edit(config_dir / "hysr.json", lambda d: d.update(algo_time_step=d["mujoco_time_step"] * 2.5))
    error = config_error(config_dir)
    assert error.key == "algo_time_step" and "multiple of mujoco_time_step" in error.valid


def test_world_boundaries_min_below_max(config_dir):
    edit(config_dir / "hysr.json", lambda d: _set(d, "world_boundaries.min:1", 100.0))
    error = config_error(config_dir)
    assert error.key == "world_boundaries.min:1" and error.valid == "min < max"


def test_pressures_within_muscle_limits(config_dir):
    pam = json.loads((config_dir / "pam.json").read_text())
    too_high = pam["max_pressures"][2] + 1.0
    edit(config_dir / "hysr.json", lambda d: _set(d, "starting_pressures:1:0", too_high))
    error = config_error(config_dir)
    assert error.file.endswith("hysr.json") and error.key == "starting_pressures:1:0"
    assert "min_pressures/max_pressures" in error.valid
    shutil.copy(REPO / "config" / "hysr.json", config_dir / "hysr.json")
    edit(config_dir / "pam.json", lambda d: _set(d, "min_pressures:3", d["max_pressures"][3] + 1))
    error = config_error(config_dir)
    assert (error.key, error.valid) == ("min_pressures:3", "min < max")


def test_launch_ranges_min_not_above_max(config_dir):
    edit(config_dir / "hysr.json", lambda d: _set(d, "ball_launch_velocity_min:1", 50.0))
    error = config_error(config_dir)
    assert error.key == "ball_launch_velocity_min:1" and error.valid == "min <= max"


def test_sac_specific_values(config_dir):
    edit(config_dir / "sac_default.json", lambda d: d.update(ent_coef="automatic"))
    assert config_error(config_dir, "config_sac.json").key == "ent_coef"
    edit(config_dir / "sac_default.json", lambda d: d.update(ent_coef="auto_0.1", train_freq=[4]))
    error = config_error(config_dir, "config_sac.json")
    assert error.key == "train_freq" and "episode" in error.valid
    edit(config_dir / "sac_default.json", lambda d: d.update(train_freq=[4, "episode"]))
    assert load_configs(config_dir / "config_sac.json").sb3_kwargs()["train_freq"] == (4, "episode")


@pytest.mark.parametrize("file, key, value, message", [
    ("ppo_default.json", "gamma", 2, "ppo_default.json: gamma: 2 is out of range; valid: a value"
     " in [0, 1]"),
    ("hysr.json", "ball_launch_position_max:1", 9.0, "hysr.json: ball_launch_position_max:1:"
     " 9.0 lies outside world_boundaries"),
    ("pam.json", "torque_per_bar_ago:0", 0.0, "pam.json: torque_per_bar_ago:0: 0.0 is out of"
     " range"),
])
def test_cli_prints_config_error_without_traceback(config_dir, file, key, value, message):
    edit(config_dir / file, lambda d: _set(d, key, value))
    result = subprocess.run(
        [sys.executable, "-m", "learning", str(config_dir / "config.json")],
        capture_output=True,
        text=True,
        cwd=config_dir.parent,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("config error: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1
    assert not (config_dir.parent / "logs").exists()  # nothing trained
