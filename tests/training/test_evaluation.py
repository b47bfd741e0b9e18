"""learning.training.evaluation on the real env (a random policy, a few episodes)."""

from __future__ import annotations

import pytest

from learning.envs.table_tennis_v0 import TableTennisEnv
from learning.training.evaluation import evaluate, random_policy


def test_evaluation_hands_out_each_episodes_last_info():
    env = TableTennisEnv()
    infos: list[dict] = []
    result = evaluate(random_policy(env.action_space, 0), env, episodes=3, seed=7,
                      target_radius=0.5, episode_infos=infos)
    assert len(infos) == 3
    assert all("end_reason" in info and "ball_position" in info for info in infos)
    assert result["hit_rate"] == pytest.approx(sum(i["hit"] for i in infos) / 3)
    # the same balls without the list: the same summary
    assert evaluate(random_policy(env.action_space, 0), env, episodes=3, seed=7,
                    target_radius=0.5) == result
