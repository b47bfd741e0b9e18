"""rl_config values stable-baselines3 takes in JSON but fails on (or only warns about) once
training starts: config errors naming the key, and the buffer memory estimate compared
with what stable-baselines3 really allocates."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer, RolloutBuffer

from learning.config import ConfigError
from learning.config.machine import available_memory, check_buffer_memory
from learning.config.sb3_limits import buffer_bytes, check_sb3_limits
from learning.envs.table_tennis_plugin import (
    ACTION_DTYPE,
    ACTION_SIZE,
    OBSERVATION_DTYPE,
    OBSERVATION_SIZE,
)

OBSERVATIONS = spaces.Box(-np.inf, np.inf, (OBSERVATION_SIZE,), OBSERVATION_DTYPE)
ACTIONS = spaces.Box(-1, 1, (ACTION_SIZE,), ACTION_DTYPE)


@pytest.mark.parametrize("algorithm, rl, key, problem, valid", [
    # SB3 asserted this: the learner died with an AssertionError, retried max_attempts times
    ("ppo", {"n_steps": 1}, "n_steps", "n_steps * n_envs = 1", "n_steps * n_envs >= 2"),
    # SB3 only warned inside the learner's stderr.log
    ("ppo", {"n_steps": 100, "batch_size": 32}, "batch_size",
     "32 does not divide the rollout of n_steps * n_envs = 100 steps: every epoch would end"
     " with a truncated mini-batch of 4", "a factor of 100, e.g. 10, 20, 25, 50, 100"),
    ("ppo", {"n_steps": 64, "batch_size": 128}, "batch_size",
     "128 is larger than the rollout of n_steps * n_envs = 64 steps", "a factor of 64"),
    # SB3's replay buffer raised a ValueError
    ("sac", {"optimize_memory_usage": True}, "optimize_memory_usage", "true is not supported",
     "false"),
    # numpy failed at once with a raw MemoryError (or, below the overcommit limit, the
    # learner was killed later, when the buffer filled)
    ("sac", {"buffer_size": 10**12}, "buffer_size", "1000000000000 needs about",
     "at most about"),
    ("ppo", {"n_steps": 10**12, "batch_size": 10**6}, "n_steps",
     "of memory for PPO's rollout buffer", "entries here"),
])
def test_values_sb3_fails_on_are_config_errors(load_with_rl, algorithm, rl, key, problem, valid):
    with pytest.raises(ConfigError) as info:
        load_with_rl(algorithm, **rl)
    assert info.value.key == key, info.value
    assert problem in info.value.problem and valid in info.value.valid


def test_values_sb3_accepts_still_load(load_with_rl):
    load_with_rl("ppo", n_steps=1, batch_size=1, normalize_advantage=False)
    load_with_rl("ppo", n_steps=96, batch_size=32)
    load_with_rl("sac", optimize_memory_usage=False, buffer_size=1000)


@pytest.mark.parametrize("rl, error", [
    ({"n_steps": 1, "n_envs": 2, "batch_size": 2}, None),
    ({"n_steps": 3, "n_envs": 2, "batch_size": 4}, "n_steps * n_envs = 6"),
    ({"n_steps": 3, "n_envs": 2, "batch_size": 3}, None),
])
def test_rollout_checks_count_every_env(rl, error):
    """rl_config's n_envs (default 1) multiplies the rollout, as in SB3's own check."""
    if error is None:
        check_sb3_limits(rl, Path("rl.json"), "ppo")
        return
    with pytest.raises(ConfigError, match=re.escape(error)):
        check_sb3_limits(rl, Path("rl.json"), "ppo")


@pytest.mark.parametrize("n_envs, buffer_size", [(1, 1000), (2, 1000), (3, 1000), (4, 2)])
def test_replay_buffer_estimate_is_what_sb3_allocates(n_envs, buffer_size):
    buffer = ReplayBuffer(buffer_size, OBSERVATIONS, ACTIONS, n_envs=n_envs)
    allocated = sum(getattr(buffer, name).nbytes for name in (
        "observations", "next_observations", "actions", "rewards", "dones", "timeouts"))
    key, _, estimate, _ = buffer_bytes({"buffer_size": buffer_size, "n_envs": n_envs}, "sac")
    assert (key, estimate) == ("buffer_size", allocated)


@pytest.mark.parametrize("n_envs, n_steps", [(1, 64), (3, 100)])
def test_rollout_buffer_estimate_is_what_sb3_allocates(n_envs, n_steps):
    buffer = RolloutBuffer(n_steps, OBSERVATIONS, ACTIONS, n_envs=n_envs)
    allocated = sum(value.nbytes for value in vars(buffer).values()
                    if isinstance(value, np.ndarray))
    key, _, estimate, _ = buffer_bytes({"n_steps": n_steps, "n_envs": n_envs}, "ppo")
    assert (key, estimate) == ("n_steps", allocated)


def test_memory_check_names_the_key_and_the_estimate():
    rl = {"buffer_size": 100_000}
    check_buffer_memory(rl, Path("sac.json"), "sac", available=None)  # unknown: no check
    check_buffer_memory(rl, Path("sac.json"), "sac", available=40_000_000)
    with pytest.raises(ConfigError) as info:
        check_buffer_memory(rl, Path("sac.json"), "sac", available=10 * 2**20)
    assert info.value.key == "buffer_size"
    assert "100000 needs about 37.8 MiB of memory for SAC's replay buffer" in info.value.problem
    assert "396 bytes each" in info.value.problem and "10.0 MiB available" in info.value.problem
    assert info.value.valid.startswith("at most about 26479 entries")


def test_available_memory_is_known_here():
    total = next(int(line.split()[1]) * 1024 for line in open("/proc/meminfo")
                 if line.startswith("MemTotal:"))
    assert 0 < available_memory() <= total


def test_env_spaces_are_the_contracts():
    from learning.envs.table_tennis_v0 import TableTennisEnv

    env = TableTennisEnv()
    assert env.observation_space.shape == (OBSERVATION_SIZE,)
    assert env.observation_space.dtype == np.dtype(OBSERVATION_DTYPE)
    assert env.action_space.shape == (ACTION_SIZE,)
    assert env.action_space.dtype == np.dtype(ACTION_DTYPE)
    env.close()
