"""What a stable-baselines3 user expects of a training config, each trained for real on a
tiny budget: TensorBoard event files, VecNormalize statistics that travel with the model,
policy_kwargs that shape the networks, command-line overrides and the zoo template."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_train import make_run, one_cpu, read_json, read_progress, run_cli  # noqa: F401

from learning.__main__ import main
from learning.config import load_configs
from learning.contract import (
    EXIT_CONFIG,
    TIMESTEPS_COLUMN,
    normalization_path,
    replay_buffer_path,
)

pytestmark = pytest.mark.slow  # every test here trains

#: progress.csv columns stable-baselines3 keeps out of TensorBoard (the step is the
#: timesteps)
NOT_IN_TENSORBOARD = {"time/iterations", "time/time_elapsed", TIMESTEPS_COLUMN,
                      "train/n_updates"}


def tensorboard_scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar in the event files of ``folder``, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def statistics(model_path):
    with open(normalization_path(model_path), "rb") as f:
        return pickle.load(f)


def test_tensorboard_holds_progress_and_evaluations_across_a_continuation(tmp_path,
                                                                           monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path))]) == 0
    evaluations = [read_json(tmp_path / "logs" / "evaluation.json")]
    assert main([str(make_run(tmp_path, rl={"load_path": "models/model.zip"},
                              name="again"))]) == 0
    evaluations.append(read_json(tmp_path / "logs" / "evaluation.json"))
    scalars = tensorboard_scalars(tmp_path / "logs" / "tensorboard")
    rows = read_progress(tmp_path / "logs" / "progress.csv")
    assert set(rows[0]) - set(scalars) == NOT_IN_TENSORBOARD
    for column in set(rows[0]) - NOT_IN_TENSORBOARD:
        expected = [(int(row[TIMESTEPS_COLUMN]), float(row[column]))
                    for row in rows if row[column] != ""]
        assert scalars[column] == [(step, pytest.approx(value, rel=1e-6, abs=1e-6))
                                   for step, value in expected], column
    assert [step for step, _ in scalars["rollout/ep_rew_mean"]] == [64, 128, 192, 256]
    for key in ("mean_reward", "hit_rate", "return_rate"):
        assert scalars[f"eval/{key}"] == [
            (e["num_timesteps"], pytest.approx(e[key], rel=1e-6, abs=1e-7))
            for e in evaluations]
    # a fresh run in the same log_path starts a new TensorBoard run
    assert main([str(make_run(tmp_path, name="fresh"))]) == 0
    scalars = tensorboard_scalars(tmp_path / "logs" / "tensorboard")
    assert [step for step, _ in scalars["rollout/ep_rew_mean"]] == [64, 128]


def test_normalization_statistics_are_kept_and_evaluation_uses_them_frozen(tmp_path,
                                                                          monkeypatch, capsys):
    from stable_baselines3 import PPO

    from learning.training.evaluation import evaluate, model_policy
    from learning.training.normalization import load_observation_normalizer
    from learning.training.train import EVALUATION_SEED_OFFSET, make_env

    monkeypatch.chdir(tmp_path)
    model_path = tmp_path / "models" / "model.zip"
    config_path = make_run(tmp_path, rl={"normalize": True})
    assert main([str(config_path)]) == 0
    first = statistics(model_path)
    # one observation per reset and per step: 128 steps and the first reset
    assert first.obs_rms.count == pytest.approx(1e-4 + 129)
    assert first.norm_obs and first.norm_reward and first.ret_rms.count > 100

    # the evaluation saw the observations through the saved statistics, frozen
    config = load_configs(config_path)
    model, env = PPO.load(model_path), make_env(config)
    normalizer = load_observation_normalizer(model_path, env, config)
    again = evaluate(model_policy(model, normalizer), env, episodes=2,
                     seed=(7 + EVALUATION_SEED_OFFSET) % 2**32, target_radius=0.5)
    assert again["mean_reward"] == read_json(tmp_path / "logs" / "evaluation.json")[
        "mean_reward"]
    assert statistics(model_path).obs_rms.count == first.obs_rms.count
    obs, _ = env.reset(seed=0)
    assert np.allclose(normalizer(obs), np.clip(
        (obs - first.obs_rms.mean) / np.sqrt(first.obs_rms.var + first.epsilon), -10, 10),
        atol=1e-5)

    # continuing keeps updating the same statistics
    again_path = make_run(tmp_path, rl={"normalize": True, "load_path": "models/model.zip"},
                          name="again")
    assert main([str(again_path)]) == 0
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert info["normalization_loaded"] == "models/model_vecnormalize.pkl"
    assert statistics(model_path).obs_rms.count == pytest.approx(first.obs_rms.count + 129)

    # a continuation that would feed the policy raw observations is a config error
    raw = make_run(tmp_path, rl={"normalize": False, "load_path": "models/model.zip"},
                   name="raw")
    assert main([str(raw)]) == EXIT_CONFIG
    assert "normalize.norm_obs: is false, but the model at load_path models/model.zip was" \
        " trained with norm_obs true" in capsys.readouterr().err
    # a fresh run without normalization at the same save_path removes the stale statistics
    assert main([str(make_run(tmp_path, rl={"normalize": False}, name="plain"))]) == 0
    assert not normalization_path(model_path).exists()
    normalized = make_run(tmp_path, rl={"normalize": True, "load_path": "models/model.zip"},
                          name="normalized")
    assert main([str(normalized)]) == EXIT_CONFIG
    assert "has no normalization statistics beside it" in capsys.readouterr().err


def test_policy_kwargs_shape_the_ppo_networks(tmp_path, monkeypatch, capsys):
    from stable_baselines3 import PPO
    from torch import nn

    monkeypatch.chdir(tmp_path)
    policy_kwargs = {"net_arch": {"pi": [32], "vf": [48, 48]}, "activation_fn": "relu",
                     "log_std_init": -1.0, "ortho_init": False}
    rl = {"num_layers": None, "num_hidden": None, "policy_kwargs": policy_kwargs}
    assert main([str(make_run(tmp_path, rl=rl))]) == 0
    policy = PPO.load(tmp_path / "models" / "model.zip").policy
    layers = [(type(m), getattr(m, "out_features", None))
              for m in policy.mlp_extractor.policy_net]
    assert layers == [(nn.Linear, 32), (nn.ReLU, None)]
    layers = [(type(m), getattr(m, "out_features", None))
              for m in policy.mlp_extractor.value_net]
    assert layers == [(nn.Linear, 48), (nn.ReLU, None), (nn.Linear, 48), (nn.ReLU, None)]
    assert float(policy.log_std.detach().abs().sub(1.0).abs().max()) < 0.05
    assert policy.ortho_init is False
    # continuing with other networks is a config error naming policy_kwargs
    other = dict(rl, policy_kwargs=dict(policy_kwargs, activation_fn="tanh"),
                 load_path="models/model.zip")
    assert main([str(make_run(tmp_path, rl=other, name="other"))]) == EXIT_CONFIG
    assert "policy_kwargs: activation_fn Tanh (the model has ReLU)" in capsys.readouterr().err


def test_sac_with_policy_kwargs_and_normalization(tmp_path, monkeypatch):
    from stable_baselines3 import SAC
    from torch import nn

    monkeypatch.chdir(tmp_path)
    rl = {"normalize": {"norm_reward": False}, "num_timesteps": 200, "num_layers": None,
          "num_hidden": None,
          "policy_kwargs": {"net_arch": {"pi": [32], "qf": [48]}, "activation_fn": "elu"}}
    assert main([str(make_run(tmp_path, "sac", rl=rl))]) == 0
    model_path = tmp_path / "models" / "model.zip"
    model = SAC.load(model_path)
    assert [type(m) for m in model.actor.latent_pi] == [nn.Linear, nn.ELU]
    assert [getattr(m, "out_features", None) for m in model.critic.qf0] == [48, None, 1]
    assert replay_buffer_path(model_path).is_file()
    stats = statistics(model_path)
    assert stats.norm_obs and not stats.norm_reward
    assert stats.obs_rms.count == pytest.approx(1e-4 + 201)
    assert read_json(tmp_path / "logs" / "evaluation.json")["num_timesteps"] == 200


def test_zoo_template_trains_with_command_line_overrides(tmp_path):
    from learning.config import read_role_files

    zoo = tmp_path / "config"
    make_run(tmp_path)  # copies config/ (the zoo template included) to tmp_path
    overrides = ["rl_config.num_timesteps=256", "rl_config.n_steps=128",
                 "rl_config.learning_rate=1e-4", "rl_config.policy_kwargs.net_arch.vf=[64]",
                 "hysr_config.robot_position:0=0.2", "rl_common_config.random_seed=3",
                 "rl_common_config.evaluation_episodes=2", "rl_config.verbose=0"]
    result = run_cli(tmp_path, zoo / "config_ppo_zoo.json", extra=overrides)
    assert result.returncode == 0, result.stderr
    logs = tmp_path / "logs"
    assert read_json(logs / "evaluation.json")["num_timesteps"] == 256
    # the recorded configs hold the overridden values, the template's others
    recorded = load_configs(logs / "configs" / "config.json")
    template = read_role_files(zoo / "config_ppo_zoo.json")["rl_config"][1]
    assert recorded.rl["learning_rate"] == 1e-4 and recorded.rl["n_steps"] == 128
    assert recorded.rl["policy_kwargs"]["net_arch"] == {"pi": [256, 256], "vf": [64]}
    assert recorded.rl["gae_lambda"] == template["gae_lambda"]
    assert recorded.hysr["robot_position"][0] == 0.2
    assert recorded.rl_common["random_seed"] == 3
    info = read_json(logs / "run_info.json")
    assert info["overrides"]["rl_config.learning_rate"] == 1e-4
    assert info["argv"][1:] == overrides
    assert normalization_path(tmp_path / "models" / "model.zip").is_file()
