"""Deterministic evaluation of a policy on the table-tennis env (evaluation.json)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]


def evaluate(
    policy: Policy,
    env: gym.Env,
    episodes: int,
    seed: int,
    target_radius: float,
    should_stop: Callable[[], bool] = lambda: False,
    episode_infos: list[dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """Run ``episodes`` episodes of ``policy`` on ``env`` (reset with ``seed`` once, so the
    sequence of balls is fixed by the seed) and summarize them; None if stopped early.
    ``episode_infos``: a list to append each episode's last ``info`` to (where the ball
    was hit and landed: benchmarks/landing.py).

    hit_rate: fraction of episodes whose final info says "hit"; return_rate: fraction hit
    and returned to within ``target_radius`` (m) of the target ("min_distance_ball_target").
    """
    rewards, lengths, hits, returns, racket_distances = [], [], [], [], []
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
        hit = bool(info.get("hit", False))
        target_distance = info.get("min_distance_ball_target")
        rewards.append(total)
        lengths.append(steps)
        hits.append(hit)
        returns.append(hit and target_distance is not None and target_distance <= target_radius)
        if info.get("min_distance_ball_racket") is not None:
            racket_distances.append(float(info["min_distance_ball_racket"]))
    return {
        "mean_reward": float(np.mean(rewards)),
        "std_reward": float(np.std(rewards)),
        "hit_rate": float(np.mean(hits)),
        "return_rate": float(np.mean(returns)),
        "episodes": episodes,
        "mean_episode_length": float(np.mean(lengths)),
        "mean_min_distance_ball_racket": (
            float(np.mean(racket_distances)) if racket_distances else None
        ),
        "evaluation_target_radius": target_radius,
        "evaluation_seed": seed,
        "deterministic": True,
    }


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
