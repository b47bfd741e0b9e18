"""``lttfs zoo``: rl-baselines3-zoo's real hyperparameter entries (tests/config/zoo_fixtures,
copied unchanged from its hyperparams/ppo.yml and sac.yml) converted to config folders,
their Python-expression strings read as data and never evaluated, every refusal a config
error that names the YAML file and the entry's key and leaves nothing behind; the shipped
example (config/zoo/pendulum_ppo) trains with the real learner."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from learning import cli
from learning.config import load_configs
from learning.config.zoo import main
from learning.config.zoo_entry import algorithm_of, convert_entry, read_entry
from learning.config.zoo_values import ACCEPTED, ZooValueError, parse_python_data
from learning.contract import EXIT_CONFIG

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "zoo_fixtures"
PPO, SAC = FIXTURES / "ppo.yml", FIXTURES / "sac.yml"
SHIPPED = REPO / "config" / "zoo" / "pendulum_ppo"


def convert(yaml_file: Path, name: str, schedules: str = "error", env_id: str | None = None):
    entry = read_entry(yaml_file, name)
    return convert_entry(yaml_file, name, entry, algorithm_of(yaml_file, None), env_id or name,
                         schedules)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv], prog="lttfs zoo")
    out, err = capsys.readouterr()
    return code, out, err


def read_folder(folder: Path) -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in sorted(folder.iterdir())}


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_pendulum_ppo_is_the_shipped_example(tmp_path, capsys):
    code, out, err = run(capsys, PPO, "Pendulum-v1", "--out", tmp_path / "pendulum")
    assert code == 0, err
    written = read_folder(tmp_path / "pendulum")
    assert written == read_folder(SHIPPED)  # the shipped example is this conversion
    rl, common = written["rl_config.json"], written["rl_common_config.json"]
    assert written["config.json"] == {"rl_config": "rl_config.json",
                                      "rl_common_config": "rl_common_config.json"}
    assert {key: rl[key] for key in ("n_envs", "n_steps", "gamma", "learning_rate", "use_sde",
                                     "sde_sample_freq", "num_timesteps")} == {
        "n_envs": 4, "n_steps": 1024, "gamma": 0.9, "learning_rate": 0.001, "use_sde": True,
        "sde_sample_freq": 4, "num_timesteps": 100000}
    assert type(rl["num_timesteps"]) is int
    # left out by the entry: stable-baselines3's defaults, with which the zoo trains
    assert rl["batch_size"] == 64 and (rl["num_layers"], rl["num_hidden"]) == (2, 64)
    assert common["env_id"] == "Pendulum-v1" and common["algorithm"] == "ppo"
    assert common["random_seed"] is None
    assert "n_timesteps: 100000.0 -> num_timesteps: 100000" in out
    assert "batch_size 64" in out and out.startswith(f"wrote {tmp_path / 'pendulum'}: ")
    config = load_configs(tmp_path / "pendulum" / "config.json", check_load_path=False)
    assert tuple(config.roles) == ("rl_config", "rl_common_config")


def test_policy_kwargs_and_normalize_strings_become_rl_config_objects(tmp_path, capsys):
    assert cli.main(["zoo", str(PPO), "HalfCheetah-v4", "--out", str(tmp_path / "cheetah"),
                     "--env-id", "HalfCheetah-v5"]) == 0  # through lttfs, in-process
    out = capsys.readouterr().out
    rl = read_folder(tmp_path / "cheetah")["rl_config.json"]
    assert rl["policy_kwargs"] == {"net_arch": {"pi": [256, 256], "vf": [256, 256]},
                                   "activation_fn": "relu", "log_std_init": -2,
                                   "ortho_init": False}
    assert rl["normalize"] == {"norm_obs": True, "norm_reward": True, "clip_obs": 10.0,
                               "clip_reward": 10.0}
    assert "num_layers" not in rl and "num_hidden" not in rl  # net_arch gives every network
    assert read_folder(tmp_path / "cheetah")["rl_common_config.json"]["env_id"] == "HalfCheetah-v5"
    assert "policy_kwargs: 'dict( log_std_init=-2," in out and '"activation_fn": "relu"' in out
    # the hand-converted Hopper entry (config/ppo_zoo.json) has the same network settings
    shipped = json.loads((REPO / "config" / "ppo_zoo.json").read_text())["policy_kwargs"]
    assert shipped == rl["policy_kwargs"]


def test_sac_entries_anchors_lists_and_normalize_strings():
    hopper = convert(SAC, "Hopper-v4")  # <<: *mujoco-defaults
    assert hopper.rl["learning_starts"] == 10000 and hopper.rl["num_timesteps"] == 1_000_000
    assert (hopper.rl["batch_size"], hopper.rl["buffer_size"]) == (256, 1_000_000)  # SB3's
    assert hopper.rl["num_hidden"] == 256 and hopper.rl["policy_kwargs"]["net_arch"] == {
        "pi": None, "qf": None}
    lunar = convert(SAC, "LunarLanderContinuous-v3", schedules="initial")
    assert lunar.rl["learning_rate"] == pytest.approx(7.3e-4)
    assert lunar.rl["policy_kwargs"]["net_arch"] == {"pi": [400, 300], "qf": [400, 300]}
    assert lunar.rl["ent_coef"] == "auto" and type(lunar.rl["buffer_size"]) is int
    humanoid = convert(SAC, "HumanoidBulletEnv-v0", schedules="initial", env_id="Humanoid-v5")
    assert humanoid.rl["normalize"]["norm_obs"] is True
    assert humanoid.rl["normalize"]["norm_reward"] is False
    assert humanoid.rl_common["env_id"] == "Humanoid-v5"


@pytest.mark.parametrize(("text", "value"), [
    ("dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU,"
     " net_arch=dict(pi=[256, 256], vf=[256, 256]))",
     {"log_std_init": -2, "ortho_init": False, "activation_fn": "relu",
      "net_arch": {"pi": [256, 256], "vf": [256, 256]}}),
    ("{'norm_obs': True, 'norm_reward': False}", {"norm_obs": True, "norm_reward": False}),
    ("dict(net_arch=[dict(pi=[64], vf=[64])], activation_fn=nn.Tanh)",
     {"net_arch": [{"pi": [64], "vf": [64]}], "activation_fn": "tanh"}),
    ("dict(a=(1, +2.5, None), b=nn.ELU, c=nn.LeakyReLU)",
     {"a": [1, 2.5, None], "b": "elu", "c": "leaky_relu"}),
])
def test_python_strings_are_read_as_data(text, value):
    assert parse_python_data(text) == value


@pytest.mark.parametrize("text", [
    "__import__('os').system('x')", "dict(a=open('x'))", "lambda: 0", "os.system",
    "nn.Module", "nn.ReLU()", "dict(**extra)", "[x for x in y]", "1 + 1", "dict([('a', 1)])",
    "th.optim.AdamW", "{1: 2}", "not a (python", "1e999", "b'bytes'",
])
def test_anything_but_data_is_refused(text):
    with pytest.raises(ZooValueError) as info:
        parse_python_data(text)
    assert info.value.valid == ACCEPTED
    assert any(why in info.value.problem for why in (
        "is not data", "is not a Python expression", "is not a finite number"))


def write_yaml(folder: Path, text: str, name: str = "ppo.yml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


@pytest.mark.parametrize("policy_kwargs", [
    "__import__('os').system('touch PWNED')", "dict(a=open('PWNED', 'w'))",
])
def test_a_hostile_policy_kwargs_string_is_an_error_and_nothing_is_written(
        tmp_path, capsys, monkeypatch, policy_kwargs):
    monkeypatch.chdir(tmp_path)
    yaml_file = write_yaml(tmp_path / "zoo", f'Pendulum-v1:\n  policy_kwargs: "{policy_kwargs}"\n')
    code, out, err = run(capsys, yaml_file, "Pendulum-v1", "--out", tmp_path / "out")
    assert code == EXIT_CONFIG and out == ""
    assert err.startswith(f"config error: {yaml_file}: Pendulum-v1.policy_kwargs: ")
    assert "is not data" in err and "never evaluated" in err and "nn.ReLU" in err
    assert leftovers(tmp_path) == ["zoo"]  # no out, no PWNED


def test_a_policy_kwargs_key_of_no_counterpart_is_named(tmp_path, capsys):
    yaml_file = write_yaml(tmp_path, 'Pendulum-v1:\n  policy_kwargs: "dict(use_expln=True)"\n')
    code, _, err = run(capsys, yaml_file, "Pendulum-v1", "--out", tmp_path / "out")
    assert code == EXIT_CONFIG
    assert (f"{yaml_file}: Pendulum-v1.policy_kwargs.use_expln: not supported by this suite;"
            " valid: net_arch, activation_fn, log_std_init, ortho_init") in err


def test_a_schedule_is_an_error_unless_its_initial_value_is_asked_for(tmp_path, capsys):
    code, _, err = run(capsys, PPO, "CartPole-v1", "--out", tmp_path / "cartpole")
    assert code == EXIT_CONFIG and not (tmp_path / "cartpole").exists()
    assert (f"{PPO}: CartPole-v1.learning_rate: is the linear schedule 'lin_0.001': rl_config"
            " takes constants; valid: a number; --schedules initial writes the schedule's"
            " initial value (0.001)") in err
    code, out, err = run(capsys, PPO, "CartPole-v1", "--out", tmp_path / "cartpole",
                         "--schedules", "initial")
    assert code == 0, err
    rl = read_folder(tmp_path / "cartpole")["rl_config.json"]
    assert (rl["learning_rate"], rl["clip_range"]) == (0.001, 0.2)
    assert "learning_rate: 'lin_0.001' -> 0.001 (the schedule's initial value" in out
    assert "clip_range: 'lin_0.2' -> 0.2" in out


def test_an_unknown_entry_lists_the_files_entries(tmp_path, capsys):
    code, _, err = run(capsys, PPO, "Pendulum-v0", "--out", tmp_path / "out")
    assert code == EXIT_CONFIG and not (tmp_path / "out").exists()
    assert err.strip() == (f"config error: {PPO}: Pendulum-v0: no such entry; valid: atari,"
                           " Pendulum-v1, CartPole-v1, HalfCheetah-v4")


def test_an_unsupported_key_names_the_file_the_entry_and_the_supported_keys(tmp_path, capsys):
    code, _, err = run(capsys, PPO, "atari", "--out", tmp_path / "out")
    assert code == EXIT_CONFIG
    assert f"{PPO}: atari.env_wrapper: not supported by this suite (the zoo's env_wrapper" in err
    supported = err.split("valid: ", 1)[1].strip().split(", ")
    assert {"learning_rate", "n_steps", "use_sde", "n_timesteps", "n_envs", "policy",
            "policy_kwargs", "normalize", "normalize_kwargs", "env_kwargs"} <= set(supported)
    assert "num_timesteps" not in supported and "log_path" not in supported
    yaml_file = write_yaml(tmp_path, "Pendulum-v1:\n  policy: 'CnnPolicy'\n")
    assert run(capsys, yaml_file, "Pendulum-v1", "--out", tmp_path / "out")[2].strip().endswith(
        "Pendulum-v1.policy: is 'CnnPolicy'; valid: 'MlpPolicy' (the learner trains"
        " stable-baselines3's MlpPolicy)")


def test_the_algorithm_comes_from_the_file_name_or_the_option(tmp_path, capsys):
    yaml_file = write_yaml(tmp_path, (FIXTURES / "sac.yml").read_text(), "tuned.yml")
    code, _, err = run(capsys, yaml_file, "Pendulum-v1", "--out", tmp_path / "out")
    assert code == EXIT_CONFIG and "does not say the algorithm; valid: --algorithm ppo or sac" \
        in err
    code, _, err = run(capsys, SAC, "Pendulum-v1", "--out", tmp_path / "o", "--algorithm", "ppo")
    assert code == EXIT_CONFIG and "holds sac's hyperparameters, not those of --algorithm ppo" \
        in err
    code, _, err = run(capsys, yaml_file, "Pendulum-v1", "--out", tmp_path / "out",
                       "--algorithm", "sac")
    assert code == 0, err
    assert read_folder(tmp_path / "out")["rl_common_config.json"]["algorithm"] == "sac"


def test_an_env_id_gymnasium_lacks_suggests_the_version_it_has(tmp_path, capsys):
    code, _, err = run(capsys, SAC, "Hopper-v4", "--out", tmp_path / "out", "--env-id",
                       "Hopper-v9")
    assert code == EXIT_CONFIG and not (tmp_path / "out").exists()
    assert ("Hopper-v9 is not registered by the installed gymnasium; Hopper-v5 is: pass"
            " --env-id Hopper-v5") in err
    code, _, err = run(capsys, SAC, "HumanoidBulletEnv-v0", "--out", tmp_path / "out",
                       "--schedules", "initial")
    assert (f"{SAC}: HumanoidBulletEnv-v0: HumanoidBulletEnv-v0 is not registered by the"
            " installed gymnasium") in err


def test_output_is_atomic_and_never_overwritten_without_force(tmp_path, capsys):
    out = tmp_path / "made" / "by" / "zoo"
    # a value only the full config check refuses (batch_size must divide n_steps * n_envs)
    yaml_file = write_yaml(tmp_path / "zoo", "Pendulum-v1:\n  n_envs: 4\n  batch_size: 100\n")
    code, _, err = run(capsys, yaml_file, "Pendulum-v1", "--out", out)
    assert code == EXIT_CONFIG and "Pendulum-v1.batch_size: " in err
    assert "(as rl_config.batch_size of the converted config)" in err
    assert leftovers(tmp_path) == ["zoo"]  # neither the folder, its parents nor a temp folder
    out.mkdir(parents=True)
    (out / "mine.txt").write_text("keep")
    code, _, err = run(capsys, PPO, "Pendulum-v1", "--out", out)
    assert code == EXIT_CONFIG and "exists (a folder): nothing written; pass --force" in err
    code, _, err = run(capsys, yaml_file, "Pendulum-v1", "--out", out, "--force")
    assert code == EXIT_CONFIG and leftovers(out) == ["mine.txt"]  # an error keeps it
    assert leftovers(out.parent) == ["zoo"]
    code, _, err = run(capsys, PPO, "Pendulum-v1", "--out", out, "--force")
    assert code == 0, err
    assert leftovers(out) == ["config.json", "rl_common_config.json", "rl_config.json"]
    assert leftovers(out.parent) == ["zoo"]


@pytest.mark.slow
def test_the_shipped_pendulum_config_trains_and_evaluates(tmp_path):
    """The real learner on a tiny budget: 512 steps of 4 envs x 64, two evaluation
    episodes."""
    result = subprocess.run(
        [sys.executable, "-m", "learning", str(SHIPPED / "config.json"),
         "rl_config.num_timesteps=512", "rl_config.n_steps=64", "rl_config.verbose=0",
         "rl_common_config.evaluation_episodes=2", "rl_common_config.random_seed=0"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = json.loads((tmp_path / "logs" / "evaluation.json").read_text())
    assert evaluation["env_id"] == "Pendulum-v1" and evaluation["episodes"] == 2
    assert evaluation["num_timesteps"] == 512 and evaluation["mean_episode_length"] == 200
    assert (tmp_path / "models" / "model.zip").is_file()


def test_lttfs_zoo_shows_its_options(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["zoo", "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and out.startswith("usage: lttfs zoo ")
    for option in ("HYPERPARAMS.yml", "ENV_NAME", "--out DIR", "--env-id ID", "--algorithm",
                   "--schedules", "--force", "Exit codes"):
        assert option in out
