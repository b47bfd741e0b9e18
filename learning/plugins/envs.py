"""Envs by id: the one interface through which the config checks, the learner, the
evaluation, the rendering and the job's metrics see an env.

A config chooses its env with ``rl_common_config.env_id`` (default
``learning/TableTennis-v0``, so configs written before there was a choice keep working)
and gives it ``env_kwargs`` (a JSON object, default ``{}``). Behind the id is an
:class:`EnvPlugin`, registered once with :func:`register_env`; it declares

- ``roles``: the config roles of its own, each a file in config.json and the templates
  files beside the common ``rl_config`` and ``rl_common_config`` (table tennis:
  reward_config, hysr_config, pam_config; a plain gymnasium env: none), and checks them
  (:meth:`EnvPlugin.validate_roles`) and env_kwargs (:meth:`EnvPlugin.check_env_kwargs`);
- how the env is built from those checked configs and env_kwargs
  (:meth:`EnvPlugin.make_env`);
- its observation and action spaces as stable-baselines3's buffers store them
  (:meth:`EnvPlugin.spaces`: the buffers' memory, a saved model's shapes), known without
  building a simulation where the plug-in can say them;
- its metrics: values it adds to evaluation.json from the episodes' last infos
  (:meth:`EnvPlugin.evaluation_metrics`) and those of them a job aggregates over its runs
  (``metrics``: ``{"hit_rate": ("mean",)}`` reports the job metric ``mean_hit_rate``).

**Where plug-ins come from.** The shipped envs register theirs when :mod:`learning.envs`
is imported (done here on the first look-up). Any other module registers its own when
imported; ``rl_common_config.env_plugins`` names such modules (a list of importable
module names: installed, or on ``PYTHONPATH``), like rl-baselines3-zoo's
``--gym-packages``. Every process that reads the configs imports them before it looks the
id up: the learner and its env worker processes, the job, the sweep's pre-flight and the
rendering, so a plug-in needs no edit of any module of this package.

**Any gymnasium env by id.** An id no plug-in is registered under but gymnasium's registry
has (``Pendulum-v1``, ``HalfCheetah-v5``, or one that a module of ``env_plugins``
registers with ``gymnasium.register``, exactly like ``--gym-packages``) gets a generic
plug-in (:mod:`learning.plugins.gymnasium_envs`): no roles, ``env_kwargs`` to
``gymnasium.make``, no metrics of its own.

This module imports nothing heavy (no gymnasium, numpy or stable-baselines3 at import).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.contract import COMMON_ROLES

#: the env of a config whose rl_common_config names none
DEFAULT_ENV_ID = "learning/TableTennis-v0"
#: the package of the shipped envs: importing it registers their plug-ins
SHIPPED_ENVS = "learning.envs"
#: the statistics over a job's runs a plug-in's ``metrics`` may ask for
STATISTICS = ("mean", "std")


@dataclass(frozen=True)
class SpaceLayout:
    """One space as stable-baselines3 stores its samples."""

    shape: tuple[int, ...]  #: the space's shape (what a saved model records as ``_shape``)
    dtype: str  #: numpy dtype name of its samples ("float64", "float32", "int64", ...)
    item_bytes: int  #: bytes of one value of that dtype
    #: values one sample takes in the buffers: Box prod(shape), Discrete 1,
    #: MultiDiscrete len(nvec), MultiBinary n
    values: int

    def describe(self) -> str:
        return f"{self.values} {self.dtype}"


@dataclass(frozen=True)
class EnvSpaces:
    """An env's observation and action spaces, as the config checks size the buffers."""

    observation: SpaceLayout
    action: SpaceLayout

    @classmethod
    def of(cls, env: Any) -> EnvSpaces:
        """The layouts of a built gymnasium env's spaces, read as stable-baselines3 reads
        them (``get_obs_shape``, ``get_action_dim``); flat spaces only (no Dict/Tuple:
        the learner's MlpPolicy takes none)."""
        import numpy as np
        from stable_baselines3.common.preprocessing import get_action_dim, get_obs_shape

        observation, action = env.observation_space, env.action_space
        layouts = []
        for space, values in ((observation, lambda s: int(np.prod(get_obs_shape(s)))),
                              (action, get_action_dim)):
            if space.dtype is None or space.shape is None:
                raise TypeError(f"{space} is not a flat space (Box, Discrete, MultiDiscrete,"
                                " MultiBinary)")
            dtype = np.dtype(space.dtype)
            layouts.append(SpaceLayout(tuple(space.shape), dtype.name, dtype.itemsize,
                                       int(values(space))))
        return cls(*layouts)


class EnvPlugin:
    """An env behind an id. Subclass it, set the class attributes, implement
    :meth:`make_env` and :meth:`spaces` (the rest is optional), and register an instance
    with :func:`register_env` in a module that ``rl_common_config.env_plugins`` names."""

    #: the id configs name (``rl_common_config.env_id``), gymnasium's form: ``[ns/]Name-vN``
    env_id: str = ""
    #: config roles of its own besides rl_config and rl_common_config, in config.json
    #: order; each name ends in ``_config`` (RunConfig: ``config.<name without _config>``)
    roles: tuple[str, ...] = ()
    #: its evaluation.json values a job aggregates over its runs: key -> statistics among
    #: "mean", "std" (job metric ``<statistic>_<key>``); each must be a key that
    #: :meth:`evaluation_metrics` returns
    metrics: Mapping[str, tuple[str, ...]] = {}

    @property
    def config_roles(self) -> tuple[str, ...]:
        """Every role a config.json (or templates file) of this env maps to a file."""
        return (*self.roles, *COMMON_ROLES)

    def validate_roles(self, roles: Mapping[str, Any], files: Mapping[str, Path | str]
                       ) -> dict[str, dict[str, Any]]:
        """Check its own role configs (``files`` names them in errors): raise
        :class:`learning.config.ConfigError` naming the file and the key; return them,
        defaults filled in. Default: no roles, nothing to check."""
        return {role: dict(roles[role]) for role in self.roles}

    def check_env_kwargs(self, env_kwargs: dict[str, Any], file: Path) -> None:
        """Whether ``rl_common_config.env_kwargs`` (a JSON object; ``file`` is
        rl_common_config's) suits the env: ConfigError naming ``env_kwargs.<key>`` if not.
        Default: any object, handed to :meth:`make_env` as it is."""

    def make_env(self, roles: Mapping[str, dict[str, Any]], env_kwargs: Mapping[str, Any],
                 render_mode: str | None = None) -> Any:
        """A new gymnasium env from its checked role configs and env_kwargs;
        ``render_mode`` "rgb_array" for the rendering, None for training and evaluation."""
        raise NotImplementedError(f"{type(self).__name__}.make_env")

    def spaces(self, env_kwargs: Mapping[str, Any]) -> EnvSpaces:
        """Its spaces (:meth:`EnvSpaces.of` reads them from a built env; build it once and
        keep the answer, the config checks ask for every config they check)."""
        raise NotImplementedError(f"{type(self).__name__}.spaces")

    def evaluation_metrics(self, final_infos: list[dict[str, Any]],
                           target_radius: float | None) -> dict[str, Any]:
        """Its values for evaluation.json from the last ``info`` of each evaluation episode
        (``target_radius``: rl_common_config's evaluation_target_radius). Numbers are also
        written to TensorBoard as ``eval/<key>``. Default: none."""
        return {}

    def job_metric_names(self) -> tuple[str, ...]:
        """The job metrics its ``metrics`` ask for, in order."""
        return tuple(f"{statistic}_{key}" for key, statistics in self.metrics.items()
                     for statistic in statistics)


class UnknownEnvError(LookupError):
    """No plug-in is registered under the id; the message lists those that are."""


_PLUGINS: dict[str, EnvPlugin] = {}


def register_env(plugin: EnvPlugin) -> EnvPlugin:
    """Register ``plugin`` under its env_id and return it. Registering the same instance
    again does nothing (a module imported twice); another one under a taken id is an
    error."""
    _check_declarations(plugin)
    registered = _PLUGINS.get(plugin.env_id)
    if registered is not None and registered is not plugin:
        if type(registered).__qualname__ == type(plugin).__qualname__:
            return registered  # the same plug-in, its module imported again (another name)
        raise ValueError(f"env id {plugin.env_id!r} is taken by {type(registered).__name__}")
    _PLUGINS[plugin.env_id] = plugin
    return plugin


def _check_declarations(plugin: EnvPlugin) -> None:
    name = type(plugin).__name__
    if not isinstance(plugin.env_id, str) or not plugin.env_id:
        raise ValueError(f"{name}.env_id: a non-empty string, e.g. 'my_envs/Cart-v0'")
    for role in plugin.roles:
        if not role.endswith("_config") or role in COMMON_ROLES:
            raise ValueError(f"{name}.roles: {role!r}: a name ending in '_config', not one of"
                             f" the common roles {', '.join(COMMON_ROLES)}")
    if len(set(plugin.roles)) != len(plugin.roles):
        raise ValueError(f"{name}.roles: {plugin.roles} names a role twice")
    for key, statistics in plugin.metrics.items():
        if not statistics or set(statistics) - set(STATISTICS):
            raise ValueError(f"{name}.metrics[{key!r}]: {statistics!r}: one or more of"
                             f" {', '.join(STATISTICS)}")


def import_env_modules(modules: Iterable[str] = ()) -> None:
    """Import the shipped envs and ``modules`` (each registers its plug-ins; Python
    imports a module once). A module that cannot be imported raises its ImportError."""
    for module in (SHIPPED_ENVS, *modules):
        importlib.import_module(module)


def env_plugin(env_id: str = DEFAULT_ENV_ID, modules: Iterable[str] = ()) -> EnvPlugin:
    """The plug-in registered under ``env_id``, after importing ``modules`` (a config's
    ``env_plugins``); for an id in gymnasium's registry without one, a generic plug-in
    (learning.plugins.gymnasium_envs: ``gymnasium.make(env_id, **env_kwargs)``, no roles,
    no metrics of its own), registered on first use; UnknownEnvError if neither."""
    import_env_modules(modules)
    plugin = _PLUGINS.get(env_id)
    if plugin is None:
        from learning.plugins.gymnasium_envs import gymnasium_ids_like, gymnasium_plugin

        generic = gymnasium_plugin(env_id)
        if generic is None:
            alike = gymnasium_ids_like(env_id)
            raise UnknownEnvError(
                f"{env_id!r} is neither the id of a registered env plug-in"
                f" ({', '.join(sorted(_PLUGINS))}) nor in gymnasium's registry"
                + (f"; gymnasium has {', '.join(alike)}" if alike else ""))
        plugin = register_env(generic)
    return plugin


def env_plugin_for(rl_common: Mapping[str, Any]) -> EnvPlugin:
    """The plug-in of a (checked or merged) rl_common_config: its ``env_id`` and
    ``env_plugins``, or their defaults."""
    return env_plugin(rl_common.get("env_id", DEFAULT_ENV_ID), rl_common.get("env_plugins", ()))


def registered_envs() -> tuple[EnvPlugin, ...]:
    """Every registered plug-in (the shipped ones included), in registration order."""
    import_env_modules()
    return tuple(_PLUGINS.values())
