"""Typed, validated loading of ``config.json`` and the five role configs it names.

``config.json`` (and a job's templates file, e.g. hp_optim/config_templates_ppo.json,
which has the same form) maps each role to a JSON file, relative to its own folder:

=================  ===============================================================
role               holds
=================  ===============================================================
reward_config      the reward (learning/envs/rewards.py)
hysr_config        scene and episode of the simulation
pam_config         the pneumatic-muscle model
rl_config          stable-baselines3 constructor arguments of PPO / SAC (their own
                   names) plus num_layers, num_hidden, num_timesteps, log_path,
                   save_path, load_path, policy_kwargs and normalize; optional
                   n_envs, vec_env
rl_common_config   algorithm, random_seed, log_episodes, evaluation_episodes,
                   evaluation_target_radius; optional torch_threads, checkpoint_interval
=================  ===============================================================

The keys and JSON types of reward_config, hysr_config and pam_config are those of the
defaults shipped in ``config/`` (learning/config/env_roles.py): a key the default lacks is
unknown, a key it has is required, a value must have the default's type (lists: the
default's length), and ranges are checked. rl_config keys are the JSON-settable
constructor arguments of the chosen algorithm (learning/config/rl.py). Every problem
raises :class:`ConfigError` naming the file, the dotted key (``world_boundaries.min:2``
for item 2 of a list) and what is valid.
"""

from __future__ import annotations

import errno
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from learning.config.addressing import PREFIX, ParameterError, Templates, apply_overrides
from learning.config.checks import ConfigError, check_keys, read_json_object
from learning.config.env_roles import validate_env_roles
from learning.config.machine import check_on_this_machine
from learning.config.policy import sb3_policy_kwargs
from learning.config.rl import (
    RL_EXTRA_KEYS,
    RL_VEC_ENV_DEFAULTS,
    RL_WRAPPER_KEYS,
    validate_rl,
    validate_rl_common,
)
from learning.contract import JOB_MANAGED_RL_KEYS, ROLES


@dataclass(frozen=True)
class RunConfig:
    """The five validated role configs of one training run and where they came from."""

    main_file: Path
    files: dict[str, Path]
    roles: dict[str, dict[str, Any]]
    #: the command line's ``role.key=value`` overrides, already merged into ``roles``
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def reward(self) -> dict[str, Any]:
        return self.roles["reward_config"]

    @property
    def hysr(self) -> dict[str, Any]:
        return self.roles["hysr_config"]

    @property
    def pam(self) -> dict[str, Any]:
        return self.roles["pam_config"]

    @property
    def rl(self) -> dict[str, Any]:
        return self.roles["rl_config"]

    @property
    def rl_common(self) -> dict[str, Any]:
        return self.roles["rl_common_config"]

    @property
    def algorithm(self) -> str:
        return self.rl_common["algorithm"]

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
    names, unvalidated: ``{role: (path, content)}``."""
    main_file = Path(main_file)
    main = read_json_object(main_file)
    check_keys(main, {role: None for role in ROLES}, main_file, "")
    out = {}
    for role in ROLES:
        path = _role_file(main_file, main, role)
        out[role] = (path, read_json_object(path))
    return out


def validate_roles(
    raw: dict[str, dict[str, Any]], files: dict[str, Path], check_load_path: bool = True
) -> dict[str, dict[str, Any]]:
    """All checks of the five roles (``files`` names them in errors); the roles in order.

    ``check_load_path``: require rl_config.load_path (relative to the current directory)
    to exist when it is not empty.
    """
    common = validate_rl_common(raw["rl_common_config"], files["rl_common_config"])
    roles = dict(validate_env_roles(raw, files), rl_common_config=common)
    roles["rl_config"] = validate_rl(
        raw["rl_config"], files["rl_config"], common["algorithm"], check_load_path
    )
    return {role: roles[role] for role in ROLES}


def overridden_parameter(error: ConfigError, role: str, overrides: Mapping[str, Any]) -> str | None:
    """The override address behind a config error on ``role``, if one set that key (or
    one of the keys the error is ``also`` about)."""
    for key in (f"{role}.{name}" for name in (error.key, *error.also)):
        for address in overrides:
            if address == key or key.startswith((address + ".", address + ":")):
                return address
    return None


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
    """Load and validate ``config.json`` and the five role files it names.

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
        check_on_this_machine(roles["rl_config"], files["rl_config"],
                              roles["rl_common_config"]["algorithm"])
    return RunConfig(main_file=main_file, files=files, roles=roles,
                     overrides=dict(overrides or {}))
