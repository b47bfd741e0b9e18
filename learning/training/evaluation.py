"""Deterministic evaluation of a policy on the run's env (evaluation.json); the env's
plug-in adds its own metrics (learning.plugins.envs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from learning.plugins.envs import DEFAULT_ENV_ID, EnvPlugin, UnknownEnvError, env_plugin

Policy = Callable[[np.ndarray], np.ndarray]


def evaluate(
    policy: Policy,
    env: gym.Env,
    episodes: int,
    seed: int,
    target_radius: float | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    episode_infos: list[dict[str, Any]] | None = None,
    plugin: EnvPlugin | None = None,
) -> dict[str, Any] | None:
    """Run ``episodes`` episodes of ``policy`` on ``env`` (reset with ``seed`` once, so the
    sequence of episodes, the table tennis's balls, is fixed by the seed) and summarize
    them; None if stopped early. ``episode_infos``: a list to append each episode's last
    ``info`` to (where the ball was hit and landed: benchmarks/landing.py).

    Common to every env: mean_reward, std_reward, mean_episode_length, episodes and the
    settings; ``plugin`` (the env's; None: the plug-in registered under the env's gymnasium
    id, for an env built without gymnasium.make the default env's) adds its own from the
    episodes' last infos, given ``target_radius`` (rl_common_config's
    evaluation_target_radius): learning/TableTennis-v0 its hit_rate and return_rate.
    """
    plugin = plugin or _plugin_of(env)
    rewards, lengths, final_infos = [], [], []
    obs, _ = env.reset(seed=seed)
    for episode in range(episodes):
        if episode:
            obs, _ = env.reset()
        total, steps, done, info = 0.0, 0, False, {}
        while not done:
            if should_stop():
                return None
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            total += float(reward)
            steps += 1
            done = terminated or truncated
        if episode_infos is not None:
            episode_infos.append(info)
        rewards.append(total)
        lengths.append(steps)
        final_infos.append(info)
    return {
        "mean_reward": float(np.mean(rewards)),
        "std_reward": float(np.std(rewards)),
        **plugin.evaluation_metrics(final_infos, target_radius),
        "episodes": episodes,
        "mean_episode_length": float(np.mean(lengths)),
        "evaluation_target_radius": target_radius,
        "evaluation_seed": seed,
        "deterministic": True,
        "env_id": plugin.env_id,
    }


def _plugin_of(env: gym.Env) -> EnvPlugin:
    """The plug-in registered under the env's gymnasium id; the default env's for an env
    built without gymnasium.make (no spec), such as ``TableTennisEnv(...)``."""
    env_id = env.unwrapped.spec.id if env.unwrapped.spec is not None else DEFAULT_ENV_ID
    try:
        return env_plugin(env_id)
    except UnknownEnvError:
        plugin = EnvPlugin()  # a gymnasium env without a plug-in: no metrics of its own
        plugin.env_id = env_id
        return plugin


def model_policy(
    model: Any, normalize_observation: Callable[[np.ndarray], np.ndarray] | None = None
) -> Policy:
    """The deterministic action of a stable-baselines3 model; a model trained with
    rl_config.normalize sees its observations through ``normalize_observation`` (frozen
    statistics: learning.training.normalization)."""

    def act(obs: np.ndarray) -> np.ndarray:
        if normalize_observation is not None:
            obs = normalize_observation(obs)
        action, _ = model.predict(obs, deterministic=True)
        return action

    return act


def random_policy(action_space: gym.spaces.Space, seed: int) -> Policy:
    """Uniformly random actions (the baseline of benchmarks/learning_curve.py)."""
    action_space.seed(seed)
    return lambda obs: action_space.sample()
