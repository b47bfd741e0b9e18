"""rl_config values that stable-baselines3 accepts in JSON but fails on, or only warns
about, once training starts; checked up front so they are config errors naming the key.

- PPO asserts ``n_steps * n_envs > 1`` when it normalizes advantages (``PPO._setup_model``);
- PPO only warns (inside the learner's stderr) when ``batch_size`` does not divide the
  rollout of ``n_steps * n_envs`` steps: every epoch then ends with a truncated, noisier
  mini-batch. Refused here: a sweep that samples n_steps would otherwise compare settings
  that differ in a hidden way, and the fix (a factor, listed in the error) is one value;
- SAC's replay buffer raises on ``optimize_memory_usage`` together with
  ``handle_timeout_termination``, which the learner keeps on (episodes end by a limit).

The memory of PPO's rollout buffer and SAC's replay buffer (:func:`buffer_bytes`, from
the env's spaces as its plug-in declares them: learning.plugins.envs) is compared with the
machine's free memory by :mod:`learning.config.machine`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from learning.config import sb3_schema
from learning.config.checks import ConfigError
from learning.config.sb3_schema import ALGORITHMS
from learning.plugins.envs import EnvSpaces, env_plugin

FLOAT32_BYTES = 4  # no numpy here: the job imports this module


def algorithm_class(algorithm: str) -> type:
    """The stable-baselines3 class of ``algorithm``, one of :data:`ALGORITHMS` (the class's
    name in lower case); KeyError for another."""
    import stable_baselines3

    if algorithm not in ALGORITHMS:
        raise KeyError(algorithm)
    return getattr(stable_baselines3, algorithm.upper())


def sb3_value(data: dict[str, Any], algorithm: str, key: str) -> Any:
    """rl_config's value of ``key``, or stable-baselines3's default for ``algorithm`` (read
    without importing stable-baselines3: learning.config.sb3_schema)."""
    if key in data:
        return data[key]
    return sb3_schema.default(algorithm, key)


def check_sb3_limits(data: dict[str, Any], file: Path, algorithm: str) -> None:
    if algorithm == "ppo":
        _check_ppo_rollout(data, file)
    if algorithm == "sac" and data.get("optimize_memory_usage", False):
        raise ConfigError(
            file, "optimize_memory_usage",
            "true is not supported: stable-baselines3's replay buffer refuses it together "
            "with handle_timeout_termination, which the learner keeps on (episodes end at a "
            "step limit)", "false",
        )


def _check_ppo_rollout(data: dict[str, Any], file: Path) -> None:
    rollout = sb3_value(data, "ppo", "n_steps") * data.get("n_envs", 1)
    if rollout < 2 and sb3_value(data, "ppo", "normalize_advantage"):
        raise ConfigError(
            file, "n_steps",
            f"n_steps * n_envs = {rollout}: PPO normalizes the advantages over each rollout "
            "and needs at least 2 steps (stable-baselines3 asserts this)",
            "n_steps * n_envs >= 2 (or normalize_advantage false)", also=("n_envs",),
        )
    batch = sb3_value(data, "ppo", "batch_size")
    if rollout % batch:
        problem = (
            f"{batch} is larger than the rollout of n_steps * n_envs = {rollout} steps"
            if batch > rollout else
            f"{batch} does not divide the rollout of n_steps * n_envs = {rollout} steps: "
            f"every epoch would end with a truncated mini-batch of {rollout % batch} "
            "(stable-baselines3 only warns)"
        )
        raise ConfigError(file, "batch_size", problem,
                          f"a factor of {rollout}, e.g. {_factors_near(rollout, batch)}",
                          also=("n_steps", "n_envs"))


def _factors_near(number: int, near: int, how_many: int = 5) -> str:
    """Up to ``how_many`` factors (>= 2) of ``number`` closest to ``near`` (by ratio)."""
    small = [f for f in range(2, min(int(number**0.5), 10**6) + 1) if number % f == 0]
    factors = set(small) | {number // f for f in small} | ({number} if number >= 2 else set())
    closest = sorted(factors, key=lambda f: abs(math.log(f / near)))[:how_many]
    return ", ".join(str(f) for f in sorted(closest))


def buffer_bytes(data: dict[str, Any], algorithm: str, spaces: EnvSpaces | None = None
                 ) -> tuple[str, int, int, str]:
    """The key that sizes the algorithm's buffer, its entries, the bytes they take, and
    what one entry holds: PPO's rollout buffer (n_steps x n_envs steps), SAC's replay
    buffer (buffer_size transitions), as stable-baselines3 allocates them for an env with
    these ``spaces`` (None: the default env's, learning.plugins.envs.DEFAULT_ENV_ID)."""
    spaces = spaces or env_plugin().spaces({})
    n_envs = data.get("n_envs", 1)
    observation, action = spaces.observation, spaces.action
    observation_bytes = observation.values * observation.item_bytes
    if algorithm == "ppo":
        entries = sb3_value(data, "ppo", "n_steps") * n_envs
        each = observation_bytes + action.values * action.item_bytes + 6 * FLOAT32_BYTES
        holds = (f"an observation of {observation.describe()}, an action of"
                 f" {action.describe()}, 6 float32")
        return "n_steps", entries, entries * each, f"{each} bytes each: {holds}"
    # the replay buffer stores float64 actions as float32
    action_item = FLOAT32_BYTES if action.dtype == "float64" else action.item_bytes
    action_dtype = "float32" if action.dtype == "float64" else action.dtype
    entries = max(sb3_value(data, "sac", "buffer_size") // n_envs, 1) * n_envs
    each = 2 * observation_bytes + action.values * action_item + 3 * FLOAT32_BYTES
    holds = (f"2 observations of {observation.describe()}, an action of {action.values}"
             f" {action_dtype}, 3 float32")
    return "buffer_size", entries, entries * each, f"{each} bytes each: {holds}"
