"""A trivial second env for the tests, added through the env interface alone
(learning.plugins.envs) without editing any module of the package: gymnasium's
CartPole-v1 (4 float32 observations, a Discrete(2) action) under its own id.

A config chooses it with ``rl_common_config.env_id`` and names this module in
``env_plugins``; every process that reads that config (the learner, the job, the sweep's
pre-flight) imports the module, which registers the plug-in. The tests put this folder on
PYTHONPATH for the processes they start.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

import gymnasium as gym

from learning.plugins.envs import EnvPlugin, EnvSpaces, register_env

ENV_ID = "lttfs_tests/CartPole-v1"
GYMNASIUM_ID = "CartPole-v1"
MODULE = __name__


class CartPolePlugin(EnvPlugin):
    """No roles of its own, no metrics of its own; env_kwargs go to gymnasium.make."""

    env_id = ENV_ID

    def make_env(self, roles: Mapping[str, dict[str, Any]], env_kwargs: Mapping[str, Any],
                 render_mode: str | None = None) -> gym.Env:
        return gym.make(GYMNASIUM_ID, render_mode=render_mode, **env_kwargs)

    def spaces(self, env_kwargs: Mapping[str, Any]) -> EnvSpaces:
        return _spaces(json.dumps(env_kwargs, sort_keys=True))


@functools.cache
def _spaces(env_kwargs: str) -> EnvSpaces:
    """Built once per env_kwargs: the config checks ask for every config they check."""
    env = gym.make(GYMNASIUM_ID, **json.loads(env_kwargs))
    try:
        return EnvSpaces.of(env)
    finally:
        env.close()


PLUGIN = register_env(CartPolePlugin())
