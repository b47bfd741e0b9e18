"""learning/TableTennis-v0's own config roles, reward_config, hysr_config and pam_config:
keys and JSON types of the shipped defaults, then ranges. The env (TableTennisEnv) and the
config checks (through its plug-in, learning.envs.table_tennis_plugin) both call
:func:`validate_env_roles`, so a value the simulation cannot use is a config error before
anything is built.

The ranges are data (:data:`BOUNDS`: one key's values; :data:`RELATIONS`: rules between
keys, checked by the role's function below), so the documentation's config reference is
generated from them (docs/_ext/lttfs_reference.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

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


class Bound(NamedTuple):
    """The lower bound of a number, or of every item of a list of numbers."""

    low: float
    low_open: bool = False  #: low itself excluded

    def text(self) -> str:
        return f"{'>' if self.low_open else '>='} {self.low:g}"


#: role -> key -> its bound (lists: each item's), checked by :func:`check_bounds`
BOUNDS: dict[str, dict[str, Bound]] = {
    "reward_config": {"normalization_constant": Bound(0, low_open=True)},
    "hysr_config": {
        "mujoco_time_step": Bound(0, low_open=True),
        "algo_time_step": Bound(0, low_open=True),
        "pressure_change_range": Bound(0, low_open=True),
        "trajectory": Bound(-1),  # -1: a new launch every episode, N: replay launch N
    },
    "pam_config": {
        "min_pressures": Bound(0),
        # muscles pull with a positive gain per bar; stiffness and damping cannot be negative
        "torque_per_bar_ago": Bound(0, low_open=True),
        "torque_per_bar_antago": Bound(0, low_open=True),
        "stiffness_per_bar": Bound(0),
        "joint_damping": Bound(0),
    },
}
#: role -> (key, the rule it obeys): the rules between keys that the role's check below
#: enforces (also across roles), listed here for the config reference
RELATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "reward_config": (),
    "hysr_config": (
        ("algo_time_step", "an integer multiple of mujoco_time_step"),
        ("world_boundaries.min", "below world_boundaries.max, item by item"),
        ("ball_launch_position_min", "<= ball_launch_position_max, item by item"),
        ("ball_launch_velocity_min", "<= ball_launch_velocity_max, item by item"),
        ("ball_launch_position_min", "inside world_boundaries (and so ..._max): else every"
                                     " episode ends at once"),
        ("starting_pressures", "within pam_config's min_pressures..max_pressures, muscle by"
                               " muscle ([agonist, antagonist] per joint)"),
        ("reference_posture", "within pam_config's min_pressures..max_pressures, muscle by"
                              " muscle"),
    ),
    "pam_config": (
        ("min_pressures", "below max_pressures, muscle by muscle"),
    ),
}


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
    check_bounds(role, data, file)
    RANGE_CHECKS[role](data, file)
    return data


def check_bounds(role: str, data: dict[str, Any], file: Path) -> None:
    """Every key of :data:`BOUNDS` of the role within its bound (lists: item by item)."""
    for key, bound in BOUNDS[role].items():
        value = data[key]
        items = enumerate(value) if isinstance(value, list) else [(None, value)]
        for i, item in items:
            check_range(item, file, key if i is None else f"{key}:{i}", low=bound.low,
                        low_open=bound.low_open)


def check_reward(data: dict[str, Any], file: Path) -> None:
    """Nothing beyond :data:`BOUNDS`."""


def check_hysr(data: dict[str, Any], file: Path) -> None:
    ratio = data["algo_time_step"] / data["mujoco_time_step"]
    if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-6 * max(1.0, ratio):
        raise ConfigError(
            file,
            "algo_time_step",
            f"{data['algo_time_step']!r} is not a multiple of mujoco_time_step "
            f"({data['mujoco_time_step']!r})",
            "an integer multiple of mujoco_time_step",
        )
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
        if a >= b:
            raise ConfigError(
                file, f"min_pressures:{i}", f"{a!r} is not below max_pressures:{i} ({b!r})",
                "min < max",
            )


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
