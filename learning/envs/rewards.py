"""Reward of one table-tennis episode (one ball), as in the original project.

The reward is sparse: the environment gives it at the episode's last step and 0 before.
It is a function of three episode statistics, measured by the environment:

- ``min_distance_ball_racket`` (m): the smallest distance between the ball's centre and
  the racket's centre over the episode;
- ``min_distance_ball_target`` (m): after the ball touched the racket, the smallest
  distance between the ball's centre and ``hysr_config.target_position``;
- ``max_ball_velocity`` (m/s): after the ball touched the racket, its largest speed.

Terms, with ``c = reward_config.normalization_constant`` and ``cap = reward_config.rtt_cap``:

=========  ==========================================================================
no hit     ``-min_distance_ball_racket`` (no cap)
hit        ``max(1 - (min_distance_ball_target / c) ** 0.75, cap)``
smash hit  ``max((1 - (min_distance_ball_target / c) ** 0.75) * max_ball_velocity, cap)``
=========  ==========================================================================

The smash order (scale by the speed first, then apply the cap) is the original's
(learning_table_tennis_from_scratch/rewards.py, ``_smash_task_reward``).
"""

from __future__ import annotations

import math

RETURN_EXPONENT = 0.75  # the original project's exponent on the normalized target distance


def no_hit_reward(min_distance_ball_racket: float) -> float:
    """Reward when the racket never touched the ball: minus the closest approach (m)."""
    return -float(min_distance_ball_racket)


def return_task_reward(
    min_distance_ball_target: float, normalization_constant: float, rtt_cap: float
) -> float:
    """Reward of a returned ball: ``max(1 - (d / c) ** 0.75, rtt_cap)``."""
    return max(_closeness(min_distance_ball_target, normalization_constant), float(rtt_cap))


def smash_task_reward(
    min_distance_ball_target: float,
    max_ball_velocity: float,
    normalization_constant: float,
    rtt_cap: float,
) -> float:
    """Reward of a smashed ball: ``max((1 - (d / c) ** 0.75) * max_ball_velocity, rtt_cap)``."""
    closeness = _closeness(min_distance_ball_target, normalization_constant)
    return max(closeness * float(max_ball_velocity), float(rtt_cap))


def episode_reward(
    reward_config: dict,
    hit: bool,
    min_distance_ball_racket: float,
    min_distance_ball_target: float | None,
    max_ball_velocity: float,
) -> tuple[float, dict]:
    """The episode's reward and its terms (for ``info["reward_terms"]``).

    ``reward_config`` holds ``normalization_constant``, ``rtt_cap`` and ``smash``.
    ``min_distance_ball_target`` must be a number when ``hit`` is true.
    """
    c = float(reward_config["normalization_constant"])
    cap = float(reward_config["rtt_cap"])
    smash = bool(reward_config["smash"])
    if not hit:
        reward = no_hit_reward(min_distance_ball_racket)
        return reward, {"task": "no_hit", "no_hit": reward}
    if min_distance_ball_target is None:
        raise ValueError("episode_reward: a hit needs min_distance_ball_target")
    closeness = _closeness(min_distance_ball_target, c)
    if smash:
        reward = smash_task_reward(min_distance_ball_target, max_ball_velocity, c, cap)
        uncapped = closeness * float(max_ball_velocity)
        task = "smash"
    else:
        reward = return_task_reward(min_distance_ball_target, c, cap)
        uncapped = closeness
        task = "return"
    return reward, {
        "task": task,
        "closeness": closeness,
        "uncapped": uncapped,
        "capped": uncapped < cap,
    }


def _closeness(min_distance_ball_target: float, normalization_constant: float) -> float:
    if normalization_constant <= 0:
        raise ValueError(f"normalization_constant must be > 0, got {normalization_constant}")
    if min_distance_ball_target < 0 or not math.isfinite(min_distance_ball_target):
        raise ValueError(
            f"min_distance_ball_target must be finite and >= 0, got {min_distance_ball_target}"
        )
    return 1.0 - (min_distance_ball_target / normalization_constant) ** RETURN_EXPONENT
