"""Which env a config chooses: rl_common_config's ``env_id``, ``env_kwargs`` and
``env_plugins``, looked up among the env plug-ins (learning.plugins.envs).

The loaders ask :func:`chosen_env` before anything else of a config.json or templates
file, because the env decides which role files it maps (its own roles, then rl_config and
rl_common_config). Every problem is a ConfigError naming rl_common_config's file and the
key: an env_id no plug-in is registered under, a module of env_plugins that cannot be
imported, env_kwargs the env refuses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError, json_kind
from learning.plugins.envs import (
    DEFAULT_ENV_ID,
    EnvPlugin,
    UnknownEnvError,
    env_plugin,
    import_env_modules,
    registered_envs,
)
from learning.plugins.gymnasium_envs import gymnasium_ids_like

#: rl_common_config's keys of the env, what they take, their defaults
ENV_KEYS = {
    "env_id": "the id of a registered env plug-in or of gymnasium's registry (optional,"
              f" default {DEFAULT_ENV_ID!r})",
    "env_kwargs": "an object: the env's keyword arguments (optional, default {})",
    "env_plugins": "a list of module names to import first, each registering env plug-ins"
                   " (optional, default [])",
}
ENV_DEFAULTS: dict[str, Any] = {"env_id": DEFAULT_ENV_ID, "env_kwargs": {}, "env_plugins": []}
IMPORTABLE = ("a module that registers env plug-ins, importable by every process that reads"
              " the configs (installed, or on PYTHONPATH)")


def check_env_keys(rl_common: dict[str, Any], file: Path) -> None:
    """The JSON types of env_id, env_kwargs and env_plugins (where given)."""
    env_id = rl_common.get("env_id", DEFAULT_ENV_ID)
    if not isinstance(env_id, str) or not env_id:
        raise ConfigError(file, "env_id", f"is {json_kind(env_id)} {env_id!r}",
                          ENV_KEYS["env_id"])
    kwargs = rl_common.get("env_kwargs", {})
    if not isinstance(kwargs, dict):
        raise ConfigError(file, "env_kwargs", f"is a {json_kind(kwargs)}", ENV_KEYS["env_kwargs"])
    modules = rl_common.get("env_plugins", [])
    if not isinstance(modules, list):
        raise ConfigError(file, "env_plugins", f"is a {json_kind(modules)}",
                          ENV_KEYS["env_plugins"])
    for i, module in enumerate(modules):
        if not isinstance(module, str) or not all(
                part.isidentifier() for part in module.split(".")):
            raise ConfigError(file, f"env_plugins:{i}", f"is {module!r}, not a module name",
                              "a dotted module name, e.g. 'my_envs.cartpole'")


def chosen_env(rl_common: Any, file: str | Path) -> EnvPlugin:
    """The env plug-in a (possibly unchecked) rl_common_config chooses, its env_plugins
    imported first; anything but an object chooses the default env (the rl_common
    checks report it)."""
    file = Path(file)
    if not isinstance(rl_common, dict):
        return env_plugin(DEFAULT_ENV_ID)
    check_env_keys(rl_common, file)
    for i, module in enumerate(rl_common.get("env_plugins", [])):
        try:
            import_env_modules([module])
        except ImportError as e:
            raise ConfigError(file, f"env_plugins:{i}", f"cannot import {module!r}: {e}",
                              IMPORTABLE) from e
    env_id = rl_common.get("env_id", DEFAULT_ENV_ID)
    try:
        return env_plugin(env_id)
    except UnknownEnvError as e:
        known = ", ".join(repr(plugin.env_id) for plugin in registered_envs())
        alike = gymnasium_ids_like(env_id)
        raise ConfigError(file, "env_id", f"{env_id!r}: no env plug-in is registered under"
                          " this id and gymnasium's registry does not have it"
                          + (f" (it has {', '.join(alike)})" if alike else ""),
                          f"{known}, an id of gymnasium's registry (e.g. 'Pendulum-v1',"
                          " 'HalfCheetah-v5'), or one that a module in env_plugins"
                          " registers") from e
