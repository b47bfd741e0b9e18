"""rl_config values that stable-baselines3 accepts in JSON but fails on, or only warns
about, once training starts; checked up front so they are config errors naming the key.

- PPO asserts ``n_steps * n_envs > 1`` when it normalizes advantages (``PPO._setup_model``);
- PPO only warns (inside the learner's stderr) when ``batch_size`` does not divide the
  rollout of ``n_steps * n_envs`` steps: every epoch then ends with a truncated, noisier
  mini-batch. Refused here: a sweep that samples n_steps would otherwise compare settings
  that differ in a hidden way, and the fix (a factor, listed in the error) is one value;
- SAC's replay buffer raises on ``optimize_memory_usage`` together with
  ``handle_timeout_termination``, which the learner keeps on (episodes end by a limit).

The memory of PPO's rollout buffer and SAC's replay buffer (:func:`buffer_bytes`) is
compared with the machine's free memory by :mod:`learning.config.machine`.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError
from learning.contract import ACTION_DTYPE, ACTION_SIZE, OBSERVATION_DTYPE, OBSERVATION_SIZE

ITEM_BYTES = {"float32": 4, "float64": 8}  # no numpy here: the job imports this module
FLOAT32_BYTES = ITEM_BYTES["float32"]
OBSERVATION_BYTES = OBSERVATION_SIZE * ITEM_BYTES[OBSERVATION_DTYPE]
ACTION_BYTES = ACTION_SIZE * ITEM_BYTES[ACTION_DTYPE]  # SB3 stores float32 actions


def algorithm_class(algorithm: str) -> type:
    """The stable-baselines3 class of ``algorithm`` ("ppo" or "sac")."""
    from stable_baselines3 import PPO, SAC

    return {"ppo": PPO, "sac": SAC}[algorithm]


def sb3_value(data: dict[str, Any], algorithm: str, key: str) -> Any:
    """rl_config's value of ``key``, or stable-baselines3's default for ``algorithm``."""
    if key in data:
        return data[key]
    return inspect.signature(algorithm_class(algorithm).__init__).parameters[key].default


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


def buffer_bytes(data: dict[str, Any], algorithm: str) -> tuple[str, int, int, str]:
    """The key that sizes the algorithm's buffer, its entries, the bytes they take, and
    what one entry holds: PPO's rollout buffer (n_steps x n_envs steps), SAC's replay
    buffer (buffer_size transitions), as stable-baselines3 allocates them."""
    n_envs = data.get("n_envs", 1)
    observation = f"{OBSERVATION_SIZE} {OBSERVATION_DTYPE}"
    action = f"{ACTION_SIZE} {ACTION_DTYPE}"
    if algorithm == "ppo":
        entries = sb3_value(data, "ppo", "n_steps") * n_envs
        each = OBSERVATION_BYTES + ACTION_BYTES + 6 * FLOAT32_BYTES
        holds = f"an observation of {observation}, an action of {action}, 6 float32"
        return "n_steps", entries, entries * each, f"{each} bytes each: {holds}"
    entries = max(sb3_value(data, "sac", "buffer_size") // n_envs, 1) * n_envs
    each = 2 * OBSERVATION_BYTES + ACTION_BYTES + 3 * FLOAT32_BYTES
    holds = f"2 observations of {observation}, an action of {action}, 3 float32"
    return "buffer_size", entries, entries * each, f"{each} bytes each: {holds}"
