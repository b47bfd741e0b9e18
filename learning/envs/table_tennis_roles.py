"""learning/TableTennis-v0's own config roles, reward_config, hysr_config and pam_config:
keys and JSON types of the shipped defaults, then ranges. The env (TableTennisEnv) and the
config checks (through its plug-in, learning.envs.table_tennis_plugin) both call
:func:`validate_env_roles`, so a value the simulation cannot use is a config error before
anything is built."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from learning.config.checks import (
    ConfigError,
    check_like,
    check_range,
    read_json_object,
)
from learning.contract import DEFAULT_CONFIG_DIR

#: Roles whose keys and types come from the shipped default file of that name.
DEFAULT_FILES = {
    "reward_config": "reward.json",
    "hysr_config": "hysr.json",
    "pam_config": "pam.json",
}
ENV_ROLES = tuple(DEFAULT_FILES)


def load_default(role: str) -> dict[str, Any]:
    """The shipped default of a role whose schema is its default file."""
    return read_json_object(DEFAULT_CONFIG_DIR / DEFAULT_FILES[role])


def validate_env_roles(
    roles: dict[str, dict[str, Any]], files: dict[str, Path | str]
) -> dict[str, dict[str, Any]]:
    """Check reward_config, hysr_config and pam_config (keys, types, ranges, and the
    pressures/positions that depend on two roles); ``files`` names them in errors."""
    for role in ENV_ROLES:
        validate_against_default(role, roles[role], Path(files[role]))
    check_pressures(roles["hysr_config"], Path(files["hysr_config"]), roles["pam_config"])
    return {role: roles[role] for role in ENV_ROLES}


def validate_against_default(role: str, data: dict[str, Any], file: Path) -> dict[str, Any]:
    """Keys and types of the shipped default, then the role's range checks."""
    if not isinstance(data, dict):
        raise ConfigError(file, "(top level)", f"is a {type(data).__name__}", "a JSON object")
    check_like(data, load_default(role), file, "")
    RANGE_CHECKS[role](data, file)
    return data


def _positive(data: dict[str, Any], file: Path, *keys: str) -> None:
    for key in keys:
        check_range(data[key], file, key, low=0, low_open=True)


def _at_least(values: list, file: Path, key: str, low: float, open_: bool = False) -> None:
    for i, value in enumerate(values):
        check_range(value, file, f"{key}:{i}", low=low, low_open=open_)


def check_reward(data: dict[str, Any], file: Path) -> None:
    _positive(data, file, "normalization_constant")


def check_hysr(data: dict[str, Any], file: Path) -> None:
    _positive(data, file, "mujoco_time_step", "algo_time_step", "pressure_change_range")
    ratio = data["algo_time_step"] / data["mujoco_time_step"]
    if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
        raise ConfigError(
            file,
            "algo_time_step",
            f"{data['algo_time_step']!r} is not a multiple of mujoco_time_step "
            f"({data['mujoco_time_step']!r})",
            "an integer multiple of mujoco_time_step",
        )
    check_range(data["trajectory"], file, "trajectory", low=-1)
    low, high = data["world_boundaries"]["min"], data["world_boundaries"]["max"]
    for i, (a, b) in enumerate(zip(low, high, strict=True)):
        if a >= b:
            raise ConfigError(
                file, f"world_boundaries.min:{i}",
                f"{a!r} is not below world_boundaries.max:{i} ({b!r})", "min < max",
            )
    for kind in ("position", "velocity"):
        _min_below_max(data, file, f"ball_launch_{kind}_min", f"ball_launch_{kind}_max")
    _launch_inside_world(data, file, low, high)


def _min_below_max(data: dict[str, Any], file: Path, low_key: str, high_key: str) -> None:
    for i, (a, b) in enumerate(zip(data[low_key], data[high_key], strict=True)):
        if a > b:
            raise ConfigError(
                file, f"{low_key}:{i}", f"{a!r} is above {high_key}:{i} ({b!r})", "min <= max"
            )


def _launch_inside_world(data: dict[str, Any], file: Path, low: list, high: list) -> None:
    """The ball must start inside world_boundaries, else every episode ends at once."""
    for key in ("ball_launch_position_min", "ball_launch_position_max"):
        for i, value in enumerate(data[key]):
            if not low[i] <= value <= high[i]:
                raise ConfigError(
                    file, f"{key}:{i}", f"{value!r} lies outside world_boundaries",
                    f"a value in [{low[i]}, {high[i]}] (world_boundaries.min:{i}..max:{i})",
                )


def check_pam(data: dict[str, Any], file: Path) -> None:
    for i, (a, b) in enumerate(zip(data["min_pressures"], data["max_pressures"], strict=True)):
        check_range(a, file, f"min_pressures:{i}", low=0)
        if a >= b:
            raise ConfigError(
                file, f"min_pressures:{i}", f"{a!r} is not below max_pressures:{i} ({b!r})",
                "min < max",
            )
    # muscles pull with a positive gain per bar; stiffness and damping cannot be negative
    _at_least(data["torque_per_bar_ago"], file, "torque_per_bar_ago", 0, open_=True)
    _at_least(data["torque_per_bar_antago"], file, "torque_per_bar_antago", 0, open_=True)
    _at_least(data["stiffness_per_bar"], file, "stiffness_per_bar", 0)
    _at_least(data["joint_damping"], file, "joint_damping", 0)


def check_pressures(hysr: dict[str, Any], hysr_file: Path, pam: dict[str, Any]) -> None:
    """starting_pressures and reference_posture lie within pam_config's pressure limits
    (pairs [agonist, antagonist] per joint, in action order)."""
    low, high = pam["min_pressures"], pam["max_pressures"]
    for key in ("starting_pressures", "reference_posture"):
        for i, pair in enumerate(hysr[key]):
            for j, value in enumerate(pair):
                lo, hi = low[2 * i + j], high[2 * i + j]
                if not lo <= value <= hi:
                    raise ConfigError(
                        hysr_file, f"{key}:{i}:{j}",
                        f"pressure {value!r} is outside the muscle's limits",
                        f"[{lo}, {hi}] (pam_config min_pressures/max_pressures:{2 * i + j})",
                    )


RANGE_CHECKS: dict[str, Callable[[dict[str, Any], Path], None]] = {
    "reward_config": check_reward,
    "hysr_config": check_hysr,
    "pam_config": check_pam,
}
