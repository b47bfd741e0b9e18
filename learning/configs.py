"""Typed, validated loading of ``config.json`` and the five role configs it names.

``config.json`` maps each role to a JSON file, relative to the folder of ``config.json``:

=================  ===============================================================
role               holds
=================  ===============================================================
reward_config      the reward (learning/rewards.py)
hysr_config        scene and episode of the simulation
pam_config         the pneumatic-muscle model
rl_config          stable-baselines3 constructor arguments of PPO / SAC (their own
                   names) plus num_layers, num_hidden, num_timesteps, log_path,
                   save_path, load_path
rl_common_config   algorithm, random_seed, log_episodes, evaluation_episodes,
                   evaluation_target_radius
=================  ===============================================================

The keys and JSON types of reward_config, hysr_config and pam_config are those of the
defaults shipped in ``config/`` (:func:`default_config_dir`): a key the default lacks is
unknown, a key it has is required, and a value must have the default's type (lists: the
default's length). rl_config keys are the JSON-settable constructor arguments of the
chosen algorithm (read from its signature) plus the six keys above. On top of the types,
ranges are checked (positive time steps, min < max, pressures within the muscle limits,
...). Every problem raises :class:`ConfigError` naming the file, the dotted key
(``world_boundaries.min:2`` for item 2 of a list) and what is valid.

Generic JSON checks live in learning/config_checks.py, the rl_config/rl_common_config
schemas in learning/rl_configs.py; this module loads the files and checks the env roles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from learning.config_checks import (
    ConfigError,
    check_keys,
    check_like,
    check_range,
    is_number,
    read_json_object,
)
from learning.rl_configs import (
    ALGORITHMS,
    RL_EXTRA_KEYS,
    algorithm_class,
    rl_schema,
    validate_rl,
    validate_rl_common,
)

__all__ = [
    "ALGORITHMS",
    "ROLES",
    "ConfigError",
    "RunConfig",
    "algorithm_class",
    "default_config_dir",
    "load_configs",
    "read_json_object",
    "rl_schema",
]

ROLES = ("reward_config", "hysr_config", "pam_config", "rl_config", "rl_common_config")
# Roles whose keys and types come from the shipped default file of that name.
DEFAULT_FILES = {
    "reward_config": "reward.json",
    "hysr_config": "hysr.json",
    "pam_config": "pam.json",
}


@dataclass(frozen=True)
class RunConfig:
    """The five validated role configs of one training run and where they came from."""

    main_file: Path
    files: dict[str, Path]
    roles: dict[str, dict[str, Any]]

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
        kwargs = {k: v for k, v in self.rl.items() if k not in RL_EXTRA_KEYS}
        if isinstance(kwargs.get("train_freq"), list):
            kwargs["train_freq"] = tuple(kwargs["train_freq"])
        return kwargs

    def policy_kwargs(self) -> dict[str, Any]:
        """net_arch of num_layers hidden layers of num_hidden units each."""
        return {"net_arch": [self.rl["num_hidden"]] * self.rl["num_layers"]}


def default_config_dir() -> Path:
    """The folder holding the shipped default configs (the repository's ``config/``)."""
    return Path(__file__).resolve().parent.parent / "config"


def load_default(role: str) -> dict[str, Any]:
    """The shipped default of a role whose schema is its default file."""
    path = default_config_dir() / DEFAULT_FILES[role]
    return read_json_object(path)


def _resolve_role_file(main_file: Path, main: dict[str, Any], role: str) -> Path:
    value = main[role]
    if not isinstance(value, str) or not value:
        raise ConfigError(main_file, role, f"is {value!r}", "a non-empty path to a JSON file")
    path = Path(value)
    if not path.is_absolute():
        path = main_file.parent / path
    if not path.is_file():
        raise ConfigError(
            main_file,
            role,
            f"file not found: {path}",
            f"a JSON file relative to {main_file.parent}",
        )
    return path


def load_configs(config_path: str | Path, check_load_path: bool = True) -> RunConfig:
    """Load and validate ``config.json`` and the five role files it names.

    ``check_load_path``: require rl_config.load_path (relative to the current directory)
    to exist when it is not empty.
    """
    main_file = Path(config_path)
    main = read_json_object(main_file)
    check_keys(main, {role: None for role in ROLES}, main_file, "")
    files = {role: _resolve_role_file(main_file, main, role) for role in ROLES}
    raw = {role: read_json_object(files[role]) for role in ROLES}
    roles = {}
    roles["rl_common_config"] = validate_rl_common(
        raw["rl_common_config"], files["rl_common_config"]
    )
    for role in DEFAULT_FILES:
        roles[role] = validate_against_default(role, raw[role], files[role])
    roles["rl_config"] = validate_rl(
        raw["rl_config"],
        files["rl_config"],
        roles["rl_common_config"]["algorithm"],
        check_load_path=check_load_path,
    )
    check_pressures(roles["hysr_config"], files["hysr_config"], roles["pam_config"])
    return RunConfig(main_file=main_file, files=files, roles={r: roles[r] for r in ROLES})


def validate_against_default(role: str, data: dict[str, Any], file: Path) -> dict[str, Any]:
    """Keys and types of the shipped default, then the role's range checks."""
    default = load_default(role)
    check_like(data, default, file, "")
    RANGE_CHECKS[role](data, file)
    return data


def _positive(data: dict[str, Any], file: Path, *keys: str) -> None:
    for key in keys:
        if key in data:
            check_range(data[key], file, key, low=0, low_open=True)


def _min_below_max(low: list, high: list, file: Path, low_key: str, high_key: str) -> None:
    for i, (a, b) in enumerate(zip(low, high, strict=False)):
        if a > b:
            raise ConfigError(
                file, f"{low_key}:{i}", f"{a!r} is above {high_key}:{i} ({b!r})", "min <= max"
            )


def check_reward(data: dict[str, Any], file: Path) -> None:
    _positive(data, file, "normalization_constant")


def check_hysr(data: dict[str, Any], file: Path) -> None:
    _positive(data, file, "mujoco_time_step", "algo_time_step", "pressure_change_range")
    if "mujoco_time_step" in data and "algo_time_step" in data:
        ratio = data["algo_time_step"] / data["mujoco_time_step"]
        if abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
            raise ConfigError(
                file,
                "algo_time_step",
                f"{data['algo_time_step']!r} is not a multiple of mujoco_time_step "
                f"({data['mujoco_time_step']!r})",
                "an integer multiple of mujoco_time_step",
            )
    if "trajectory" in data:
        check_range(data["trajectory"], file, "trajectory", low=-1)
    bounds = data.get("world_boundaries")
    if isinstance(bounds, dict) and "min" in bounds and "max" in bounds:
        for i, (a, b) in enumerate(zip(bounds["min"], bounds["max"], strict=False)):
            if a >= b:
                raise ConfigError(
                    file,
                    f"world_boundaries.min:{i}",
                    f"{a!r} is not below world_boundaries.max:{i} ({b!r})",
                    "min < max",
                )
    for key in data:
        if key.endswith("_min") and key[:-4] + "_max" in data:
            low, high = data[key], data[key[:-4] + "_max"]
            if isinstance(low, list):
                _min_below_max(low, high, file, key, key[:-4] + "_max")
            elif is_number(low) and low > high:
                raise ConfigError(file, key, f"{low!r} is above {key[:-4]}_max", "min <= max")


def check_pam(data: dict[str, Any], file: Path) -> None:
    for low_key, high_key in _pressure_limit_keys(data):
        low, high = data[low_key], data[high_key]
        lows = low if isinstance(low, list) else [low]
        highs = high if isinstance(high, list) else [high] * len(lows)
        for i, (a, b) in enumerate(zip(lows, highs, strict=False)):
            key = f"{low_key}:{i}" if isinstance(low, list) else low_key
            check_range(a, file, key, low=0)
            if a >= b:
                raise ConfigError(file, key, f"{a!r} is not below {high_key} ({b!r})", "min < max")


def _pressure_limit_keys(pam: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key in pam:
        if "min" in key and "pressure" in key:
            other = key.replace("min", "max")
            if other in pam:
                pairs.append((key, other))
    return pairs


def check_pressures(hysr: dict[str, Any], hysr_file: Path, pam: dict[str, Any]) -> None:
    """starting_pressures and reference_posture lie within pam_config's pressure limits."""
    pairs = _pressure_limit_keys(pam)
    if not pairs:
        return
    low_key, high_key = pairs[0]
    low, high = pam[low_key], pam[high_key]
    for key in ("starting_pressures", "reference_posture"):
        rows = hysr.get(key)
        if not isinstance(rows, list):
            continue
        for i, row in enumerate(rows):
            for j, value in enumerate(row if isinstance(row, list) else [row]):
                index = 2 * i + j
                lo = low[index] if isinstance(low, list) and index < len(low) else low
                hi = high[index] if isinstance(high, list) and index < len(high) else high
                if is_number(lo) and is_number(hi) and not lo <= value <= hi:
                    raise ConfigError(
                        hysr_file,
                        f"{key}:{i}:{j}" if isinstance(row, list) else f"{key}:{i}",
                        f"pressure {value!r} is outside the muscle's limits",
                        f"[{lo}, {hi}] (pam_config {low_key}/{high_key})",
                    )


RANGE_CHECKS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "reward_config": check_reward,
    "hysr_config": check_hysr,
    "pam_config": check_pam,
}
