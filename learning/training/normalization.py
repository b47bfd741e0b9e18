"""rl_config.normalize: stable-baselines3's VecNormalize around the training env, its
statistics beside the model (learning.contract.normalization_path), and the evaluation's
use of them.

The statistics travel with the model: whatever continues from a model (load_path: a
continued run, a job's next iteration or retry) reloads the ones saved beside it, and
whatever evaluates or renders a model normalizes its observations with them, without
updating them. A model without statistics beside it was trained on raw observations.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from learning.config import ConfigError, RunConfig, algorithm_class
from learning.contract import normalization_path

ObservationNormalizer = Callable[[np.ndarray], np.ndarray]


def reward_discount(config: RunConfig) -> float:
    """The discount of the reward statistics: rl_config's gamma (the algorithm's default
    when it is not set)."""
    if "gamma" in config.rl:
        return float(config.rl["gamma"])
    cls = algorithm_class(config.algorithm)
    return float(inspect.signature(cls.__init__).parameters["gamma"].default)


def normalize_training_env(venv: VecEnv, config: RunConfig) -> tuple[VecEnv, dict[str, Any]]:
    """``venv`` wrapped in VecNormalize as rl_config.normalize asks (unwrapped when it asks
    for nothing), and what to record in run_info.json.

    Continuing (load_path), the statistics saved beside that model are loaded and keep
    being updated; normalize's settings apply to them, except ``norm_obs``, which must be
    what the model was trained with (its policy expects those observations).
    """
    settings = config.rl["normalize"]
    load_path = config.rl["load_path"]
    stats = normalization_path(load_path) if load_path else None
    if stats is not None and stats.is_file():
        env = VecNormalize.load(str(stats), venv)
        if env.norm_obs != settings["norm_obs"]:
            raise ConfigError(
                config.files["rl_config"], "normalize.norm_obs",
                f"is {str(settings['norm_obs']).lower()}, but the model at load_path"
                f" {load_path} was trained with norm_obs {str(env.norm_obs).lower()} ({stats})",
                f"{str(env.norm_obs).lower()} to continue that model",
            )
        env.training = True
    elif load_path and settings["norm_obs"]:
        raise ConfigError(
            config.files["rl_config"], "normalize.norm_obs",
            f"is true, but the model at load_path {load_path} has no normalization"
            f" statistics beside it ({normalization_path(load_path).name}): it was trained"
            " on raw observations",
            "false to continue that model",
        )
    elif settings["norm_obs"] or settings["norm_reward"]:
        env = VecNormalize(venv, norm_obs=settings["norm_obs"])
    else:
        return venv, {}
    env.norm_reward = settings["norm_reward"]
    env.clip_obs, env.clip_reward = settings["clip_obs"], settings["clip_reward"]
    env.gamma = reward_discount(config)
    return env, {"normalization_loaded": str(stats) if stats and stats.is_file() else None}


def load_observation_normalizer(
    model_path: str | Path, env: Any, config: RunConfig
) -> ObservationNormalizer | None:
    """How to normalize ``env``'s observations for the model at ``model_path``: with the
    statistics saved beside it, frozen (None if the model has none and rl_config says it
    needs none). ``env`` is the single env the observations come from."""
    path = normalization_path(model_path)
    if not path.is_file():
        if config.rl["normalize"]["norm_obs"]:
            raise FileNotFoundError(
                f"{path}: the normalization statistics of {model_path} are missing"
                " (rl_config.normalize.norm_obs is true)"
            )
        return None
    stats = VecNormalize.load(str(path), DummyVecEnv([lambda: env]))
    stats.training = False  # never updated by what it normalizes
    return observation_normalizer(stats)


def observation_normalizer(vec_normalize: VecEnv | None) -> ObservationNormalizer | None:
    """The frozen observation normalization of a (possibly) VecNormalize env, None for
    another env: VecNormalize.normalize_obs does not update the statistics."""
    if not isinstance(vec_normalize, VecNormalize) or not vec_normalize.norm_obs:
        return None
    return vec_normalize.normalize_obs
