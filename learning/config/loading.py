"""Typed, validated loading of ``config.json`` and the role configs it names.

``config.json`` (and a job's templates file, e.g. hp_optim/config_templates_ppo.json,
which has the same form) maps each role to a JSON file, relative to its own folder. Two
roles are common to every env:

=================  ===============================================================
role               holds
=================  ===============================================================
rl_config          stable-baselines3 constructor arguments of PPO / SAC (their own
                   names) plus num_layers, num_hidden, num_timesteps, log_path,
                   save_path, load_path, policy_kwargs and normalize; optional
                   n_envs, vec_env
rl_common_config   algorithm, random_seed, log_episodes, evaluation_episodes,
                   optional evaluation_target_radius, torch_threads, checkpoint_interval,
                   and the env: env_id, env_kwargs, env_plugins
=================  ===============================================================

The env that rl_common_config chooses (learning/config/env_choice.py; default
learning/TableTennis-v0) adds its own roles, listed first, and checks them through its
plug-in (learning.plugins.envs; the table tennis's reward_config, hysr_config and
pam_config: learning/envs/table_tennis_roles.py). A role the env does not declare is an
unknown key of config.json, one it declares and config.json lacks a missing key.
rl_config keys are the JSON-settable constructor arguments of the chosen algorithm
(learning/config/rl.py). Every problem raises :class:`ConfigError` naming the file, the
dotted key (``world_boundaries.min:2`` for item 2 of a list) and what is valid.
"""

from __future__ import annotations

import errno
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.config.addressing import PREFIX, ParameterError, Templates, apply_overrides
from learning.config.checks import ConfigError, check_keys, read_json_object
from learning.config.env_choice import chosen_env
from learning.config.machine import check_on_this_machine
from learning.config.policy import sb3_policy_kwargs
from learning.config.rl import (
    RL_EXTRA_KEYS,
    RL_VEC_ENV_DEFAULTS,
    RL_WRAPPER_KEYS,
    validate_rl,
    validate_rl_common,
)
from learning.contract import ENV_PARAMETER, JOB_MANAGED_RL_KEYS
from learning.plugins.envs import EnvPlugin, env_plugin_for, registered_envs


@dataclass(frozen=True)
class RunConfig:
    """The validated role configs of one training run and where they came from."""

    main_file: Path
    files: dict[str, Path]
    roles: dict[str, dict[str, Any]]
    #: the command line's ``role.key=value`` overrides, already merged into ``roles``
    overrides: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> dict[str, Any]:
        """A role's config by its name without ``_config``, the env's roles too
        (``config.hysr`` is ``config.roles["hysr_config"]``)."""
        roles = self.__dict__.get("roles", {})
        if f"{name}_config" in roles:
            return roles[f"{name}_config"]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r} (roles:"
                             f" {', '.join(roles)})")

    @property
    def rl(self) -> dict[str, Any]:
        return self.roles["rl_config"]

    @property
    def rl_common(self) -> dict[str, Any]:
        return self.roles["rl_common_config"]

    @property
    def algorithm(self) -> str:
        return self.rl_common["algorithm"]

    @property
    def env(self) -> EnvPlugin:
        """The env's plug-in (rl_common_config's env_id)."""
        return env_plugin_for(self.rl_common)

    def env_roles(self) -> dict[str, dict[str, Any]]:
        """The env's own role configs, what its plug-in builds the env from."""
        return {role: self.roles[role] for role in self.env.roles}

    def make_env(self, render_mode: str | None = None) -> Any:
        """A new env of this run (its plug-in, its role configs, env_kwargs)."""
        return self.env.make_env(self.env_roles(), self.rl_common["env_kwargs"], render_mode)

    def sb3_kwargs(self) -> dict[str, Any]:
        """rl_config's stable-baselines3 arguments, under SB3's names (lists -> tuples)."""
        ours = (*RL_EXTRA_KEYS, *RL_WRAPPER_KEYS, *RL_VEC_ENV_DEFAULTS)
        kwargs = {k: v for k, v in self.rl.items() if k not in ours}
        if isinstance(kwargs.get("train_freq"), list):
            kwargs["train_freq"] = tuple(kwargs["train_freq"])
        return kwargs

    def policy_kwargs(self) -> dict[str, Any]:
        """stable-baselines3's policy_kwargs: net_arch per network (policy_kwargs.net_arch,
        num_layers x num_hidden where it is null), the activation class, log_std_init and
        (PPO) ortho_init."""
        return sb3_policy_kwargs(self.rl)


def _symlink_loop(main_file: Path, role: str, path: Path) -> ConfigError:
    return ConfigError(main_file, role, f"symlink loop: {path} (a symbolic link that leads"
                       " back to itself)", "a path to a JSON file; a symbolic link must end"
                       " at one")


def _role_file(main_file: Path, main: dict[str, Any], role: str) -> Path:
    value = main[role]
    if not isinstance(value, str) or not value:
        raise ConfigError(main_file, role, f"is {value!r}", "a non-empty path to a JSON file")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = main_file.parent / path
        try:
            path = path.resolve()
        except RuntimeError as e:  # Python < 3.13: "Symlink loop from ..."
            raise _symlink_loop(main_file, role, path) from e
    try:
        path.stat()
    except OSError as e:  # is_file() below says False for a loop: "file not found"
        if e.errno == errno.ELOOP:
            raise _symlink_loop(main_file, role, path) from e
    if not path.is_file():
        raise ConfigError(
            main_file, role, f"file not found: {path}",
            f"a JSON file relative to {main_file.parent}",
        )
    return path


def read_role_files(main_file: str | Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Read a role -> file mapping (config.json or a templates file) and every file it
    names, unvalidated: ``{role: (path, content)}``, in the env's role order. The roles
    are those of the env its rl_common_config chooses (its env_plugins imported)."""
    main_file = Path(main_file)
    main = read_json_object(main_file)
    out = {}
    env = chosen_env(None, main_file)  # the default env, unless rl_common_config says
    if "rl_common_config" in main:
        try:
            out["rl_common_config"] = _read_role(main_file, main, "rl_common_config")
        except ConfigError:
            if set(main) != set(env.config_roles):
                raise  # no env to know the roles by
            # the default env's mapping: its files' errors come in role order below
        else:
            env = chosen_env(out["rl_common_config"][1], out["rl_common_config"][0])
    _check_other_envs_roles(main, main_file, env)
    check_keys(main, {role: None for role in env.config_roles}, main_file, "")
    for role in env.config_roles:
        if role not in out:
            out[role] = _read_role(main_file, main, role)
    return {role: out[role] for role in env.config_roles}


def _check_other_envs_roles(main: dict[str, Any], main_file: Path, env: EnvPlugin) -> None:
    """A role of another env (the table tennis's hysr_config in a config of a gymnasium
    env, say) is an unknown key that says whose it is."""
    for role in main:
        owners = [other.env_id for other in registered_envs()
                  if role in other.roles and role not in env.config_roles]
        if owners:
            raise ConfigError(main_file, role, f"unknown key: a role of env {owners[0]!r}, not"
                              f" of {env.env_id!r} (rl_common_config's env_id)",
                              ", ".join(env.config_roles))


def _read_role(main_file: Path, main: dict[str, Any], role: str) -> tuple[Path, dict[str, Any]]:
    path = _role_file(main_file, main, role)
    return path, read_json_object(path)


def validate_roles(
    raw: dict[str, dict[str, Any]], files: dict[str, Path], check_load_path: bool = True
) -> dict[str, dict[str, Any]]:
    """All checks of the roles (``files`` names them in errors): rl_common_config,
    the env it chooses with its own roles and env_kwargs, rl_config; the roles in the
    env's order.

    ``check_load_path``: require rl_config.load_path (relative to the current directory)
    to exist when it is not empty.
    """
    common_file = Path(files["rl_common_config"])
    common = validate_rl_common(raw["rl_common_config"], common_file)
    env = chosen_env(common, common_file)
    for role in raw:
        if role not in env.config_roles:
            raise ConfigError(files.get(role, role), "(role)", f"{role} is not a role of env"
                              f" {env.env_id!r}", ", ".join(env.config_roles))
    env.check_env_kwargs(common["env_kwargs"], common_file)
    roles = dict(env.validate_roles({role: raw[role] for role in env.roles},
                                    {role: files[role] for role in env.roles}))
    roles["rl_common_config"] = common
    roles["rl_config"] = validate_rl(
        raw["rl_config"], files["rl_config"], common["algorithm"], check_load_path
    )
    return {role: roles[role] for role in env.config_roles}


def overridden_parameter(error: ConfigError, role: str, overrides: Mapping[str, Any]) -> str | None:
    """The override address behind a config error on ``role``, if one set that key (or
    one of the keys the error is ``also`` about)."""
    for key in (f"{role}.{name}" for name in (error.key, *error.also)):
        for address in overrides:
            if address == key or key.startswith((address + ".", address + ":")):
                return address
    return None


def roles_of_chosen_env(merged: dict[str, dict[str, Any]], files: dict[str, Path],
                        overrides: Mapping[str, Any]
                        ) -> tuple[dict[str, dict[str, Any]], dict[str, Path]]:
    """The merged roles of the env that the merged rl_common_config chooses. A parameter
    ``config.rl_common_config.env_id`` may choose another env than the templates' own
    (envs as a sweep axis): the templates' roles that env does not have are dropped, one
    it needs and the templates lack is an error, and so is a parameter of a dropped role
    (it would change nothing in that job)."""
    env = chosen_env(merged["rl_common_config"], files["rl_common_config"])
    if list(merged) == list(env.config_roles):
        return merged, files
    chooser = ENV_PARAMETER
    missing = [role for role in env.config_roles if role not in merged]
    if missing:
        raise ParameterError(
            f"parameter '{chooser}': env {env.env_id!r} needs the role(s)"
            f" {', '.join(missing)}, which the templates do not map (they map"
            f" {', '.join(merged)}); make the templates' own env the one with the most"
            " roles (the table tennis) and choose the others by this parameter")
    for address in overrides:
        role = address.split(".")[0]
        if role not in env.config_roles:
            raise ParameterError(
                f"parameter '{PREFIX}{address}': {role} is not a role of env"
                f" {env.env_id!r}, which {chooser} chooses for this job (its roles:"
                f" {', '.join(env.config_roles)}); a parameter of one env's roles cannot"
                " be swept together with envs that lack them")
    return ({role: merged[role] for role in env.config_roles},
            {role: files[role] for role in env.config_roles})


def merge_and_validate(
    templates: Templates,
    overrides: Mapping[str, Any],
    check_load_path: bool = True,
    reserved_rl_keys: Collection[str] = JOB_MANAGED_RL_KEYS,
) -> dict[str, dict[str, Any]]:
    """Merge and run every config check; a failing check on an overridden key raises
    ParameterError naming the parameter (and the template file), any other ConfigError
    names the template file."""
    merged = apply_overrides(templates, overrides, reserved_rl_keys)
    files = {role: path for role, (path, _) in templates.items()}
    try:
        merged, files = roles_of_chosen_env(merged, files, overrides)
        return validate_roles(merged, files, check_load_path)
    except ConfigError as e:
        role = next((r for r, path in files.items() if str(path) == e.file), None)
        address = overridden_parameter(e, role, overrides) if role else None
        if address is None:
            raise
        raise ParameterError(
            f"parameter '{PREFIX}{address}': {e.key}: {e.problem}"
            + (f"; valid: {e.valid}" if e.valid else "")
            + f" (template {e.file})"
        ) from e


def load_configs(
    config_path: str | Path,
    check_load_path: bool = True,
    overrides: Mapping[str, Any] | None = None,
) -> RunConfig:
    """Load and validate ``config.json`` and the role files it names.

    ``overrides``: ``{"role.key[:N]...": value}`` merged in first, by the addressing a
    job's parameters use (learning/config/addressing.py; rl_config's paths included);
    a bad override raises ParameterError naming it. ``check_load_path`` (the learner):
    also check rl_config against this machine (paths, the model at load_path, the
    buffer's memory: learning.config.machine).
    """
    main_file = Path(config_path)
    read = read_role_files(main_file)
    files = {role: path for role, (path, _) in read.items()}
    if overrides:
        roles = merge_and_validate(read, overrides, check_load_path, reserved_rl_keys=())
    else:
        roles = validate_roles({r: content for r, (_, content) in read.items()}, files,
                               check_load_path)
    if check_load_path:
        common = roles["rl_common_config"]
        check_on_this_machine(roles["rl_config"], files["rl_config"], common["algorithm"],
                              env_plugin_for(common).spaces(common["env_kwargs"]))
    return RunConfig(main_file=main_file, files=files, roles=roles,
                     overrides=dict(overrides or {}))
