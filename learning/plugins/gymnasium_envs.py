"""Any env in gymnasium's registry by its own id (``Pendulum-v1``, ``Hopper-v5``, an id a
module of ``env_plugins`` registers with ``gymnasium.register``), without a plug-in of its
own: :func:`gymnasium_plugin` makes one when :func:`learning.plugins.envs.env_plugin`
finds no plug-in registered under the id.

Such an env has no config roles of its own (its config.json maps rl_config and
rl_common_config), takes ``env_kwargs`` as ``gymnasium.make``'s keyword arguments, has no
metrics of its own (a job reports the common ones, ``mean_eval_reward`` first) and its
spaces are read from one env built per env_kwargs. A registered plug-in under the same id
wins (the table tennis's ``learning/TableTennis-v0``).

Imports gymnasium only when asked about an id no plug-in is registered under.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from learning.plugins.envs import EnvPlugin, EnvSpaces


class GymnasiumEnvPlugin(EnvPlugin):
    """An id of gymnasium's registry behind the env interface."""

    def __init__(self, env_id: str) -> None:
        self.env_id = env_id

    def check_env_kwargs(self, env_kwargs: dict[str, Any], file: Path) -> None:
        """Builds the env once (its spaces are kept): env_kwargs its constructor refuses
        (TypeError) are a ConfigError naming env_kwargs; an env that cannot be built here
        at all (gymnasium's Hopper-v3 wants mujoco-py) one naming env_id."""
        from learning.config.checks import ConfigError

        try:
            self.spaces(env_kwargs)
        except TypeError as e:
            raise ConfigError(file, "env_kwargs", f"{self.env_id} refuses them: {e}",
                              "the keyword arguments of the env's constructor (gymnasium.make"
                              f"({self.env_id!r}, **env_kwargs))") from e
        except Exception as e:  # noqa: BLE001 - any failure of a third-party constructor
            others = [i for i in gymnasium_ids_like(self.env_id) if i != self.env_id]
            raise ConfigError(file, "env_id", f"{self.env_id} cannot be built here:"
                              f" {type(e).__name__}: {_first_line(e)}",
                              "an env that builds with the installed packages"
                              + (f", e.g. {others[0]!r}" if others else "")) from e

    def make_env(self, roles: Mapping[str, dict[str, Any]], env_kwargs: Mapping[str, Any],
                 render_mode: str | None = None) -> Any:
        import gymnasium as gym

        return gym.make(self.env_id, render_mode=render_mode, **env_kwargs)

    def spaces(self, env_kwargs: Mapping[str, Any]) -> EnvSpaces:
        return _spaces(self.env_id, json.dumps(env_kwargs, sort_keys=True))


@functools.cache
def _spaces(env_id: str, env_kwargs: str) -> EnvSpaces:
    """Built once per id and env_kwargs: the config checks ask for every config."""
    import gymnasium as gym

    env = gym.make(env_id, **json.loads(env_kwargs))
    try:
        return EnvSpaces.of(env)
    finally:
        env.close()


def gymnasium_plugin(env_id: str) -> GymnasiumEnvPlugin | None:
    """A plug-in for ``env_id`` if gymnasium's registry has it (after the imports the
    caller did: the shipped envs, a config's env_plugins), else None."""
    from gymnasium.envs.registration import registry

    if env_id not in registry:
        return None
    return GymnasiumEnvPlugin(env_id)


def gymnasium_ids_like(env_id: str) -> list[str]:
    """Ids of gymnasium's registry with the same name and another version (``Hopper-v3``
    -> ``Hopper-v5``), newest first: what an error suggests."""
    from gymnasium.envs.registration import parse_env_id, registry

    try:
        namespace, name, _ = parse_env_id(env_id)
    except Exception:  # not of gymnasium's form: nothing alike
        return []
    alike = []
    for other in registry:
        other_namespace, other_name, version = parse_env_id(other)
        if (other_namespace, other_name) == (namespace, name):
            alike.append((version or 0, other))
    return [other for _, other in sorted(alike, reverse=True)]


def _first_line(error: Exception) -> str:
    lines = str(error).splitlines()
    return lines[0].rstrip(".") if lines else ""
