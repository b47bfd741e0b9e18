"""learning.envs.rewards: the original project's reward terms, hand-computed cases."""

import math

import pytest

from learning.envs.rewards import (
    episode_reward,
    no_hit_reward,
    return_task_reward,
    smash_task_reward,
)

CONFIG = {"normalization_constant": 3.0, "rtt_cap": -0.2, "smash": False}
SMASH = {**CONFIG, "smash": True}


def test_no_hit_is_minus_the_closest_racket_distance_without_cap():
    assert no_hit_reward(0.25) == -0.25
    reward, terms = episode_reward(CONFIG, False, 1.7, None, 0.0)
    assert reward == -1.7 and terms == {"task": "no_hit", "no_hit": -1.7}
    # smash changes nothing without a hit
    assert episode_reward(SMASH, False, 0.4, None, 9.0)[0] == -0.4


def test_return_reward_hand_computed():
    # d = 3 * 0.125 = 0.375: (0.125) ** 0.75 = 2 ** -2.25 = 0.2102241...
    expected = 1.0 - 2 ** -2.25
    assert return_task_reward(0.375, 3.0, -0.2) == pytest.approx(expected)
    reward, terms = episode_reward(CONFIG, True, 0.01, 0.375, 4.0)
    assert reward == pytest.approx(expected)
    assert terms["task"] == "return" and terms["capped"] is False
    assert episode_reward(CONFIG, True, 0.01, 0.0, 4.0)[0] == 1.0  # on target


def test_return_reward_is_floored_at_rtt_cap():
    # d = 2c: 1 - 2 ** 0.75 = -0.6817... < -0.2
    reward, terms = episode_reward(CONFIG, True, 0.0, 6.0, 3.0)
    assert reward == -0.2 and terms["capped"] is True
    assert terms["uncapped"] == pytest.approx(1 - 2**0.75)


def test_smash_multiplies_by_speed_before_the_cap():
    # closeness 1 - 2 ** -2.25 = 0.78978, times 5 m/s
    expected = (1.0 - 2 ** -2.25) * 5.0
    assert smash_task_reward(0.375, 5.0, 3.0, -0.2) == pytest.approx(expected)
    reward, terms = episode_reward(SMASH, True, 0.0, 0.375, 5.0)
    assert reward == pytest.approx(expected) and terms["task"] == "smash"
    # negative closeness times speed, then the cap (the original's order): d = 2c
    reward, terms = episode_reward(SMASH, True, 0.0, 6.0, 0.1)
    assert terms["uncapped"] == pytest.approx((1 - 2**0.75) * 0.1)  # -0.068 > cap
    assert reward == pytest.approx(-0.06817928)
    assert episode_reward(SMASH, True, 0.0, 6.0, 4.0)[0] == -0.2  # -2.73 floored


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_bad_distances_are_rejected(bad):
    with pytest.raises(ValueError, match="min_distance_ball_target"):
        episode_reward(CONFIG, True, 0.0, bad, 1.0)


def test_hit_without_target_distance_is_an_error():
    with pytest.raises(ValueError, match="min_distance_ball_target"):
        episode_reward(CONFIG, True, 0.0, None, 1.0)


def test_normalization_constant_must_be_positive():
    with pytest.raises(ValueError, match="normalization_constant"):
        episode_reward({**CONFIG, "normalization_constant": 0.0}, True, 0.0, 1.0, 1.0)
