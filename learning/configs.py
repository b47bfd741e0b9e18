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
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROLES = ("reward_config", "hysr_config", "pam_config", "rl_config", "rl_common_config")
# Roles whose keys and types come from the shipped default file of that name.
DEFAULT_FILES = {
    "reward_config": "reward.json",
    "hysr_config": "hysr.json",
    "pam_config": "pam.json",
}
ALGORITHMS = ("ppo", "sac")
# rl_config keys that are ours, not stable-baselines3's.
RL_EXTRA_KEYS = ("num_layers", "num_hidden", "num_timesteps", "log_path", "save_path", "load_path")
# Constructor arguments the learner sets itself (or that are not JSON values).
RL_EXCLUDED_ARGS = (
    "self",
    "policy",
    "env",
    "seed",
    "policy_kwargs",
    "tensorboard_log",
    "rollout_buffer_kwargs",
    "replay_buffer_kwargs",
    "_init_setup_model",
)
MAX_SEED = 2**32 - 1


class ConfigError(ValueError):
    """A config file is missing, malformed, or has a missing/unknown/invalid key."""

    def __init__(self, file: str | Path, key: str, problem: str, valid: str = ""):
        self.file = str(file)
        self.key = key
        self.problem = problem
        self.valid = valid
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.file}: {self.key}: {self.problem}"
        return f"{text}; valid: {self.valid}" if self.valid else text


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


# ----------------------------------------------------------------------------- reading


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def read_json_object(path: str | Path) -> dict[str, Any]:
    """Read a JSON object from ``path``; every failure is a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as e:
        raise ConfigError(path, "(file)", "file not found", "an existing JSON file") from e
    except OSError as e:
        raise ConfigError(path, "(file)", f"cannot read: {e.strerror}") from e
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        raise ConfigError(
            path, "(json)", f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        ) from e
    except ValueError as e:
        raise ConfigError(path, "(json)", str(e), "finite numbers") from e
    if not isinstance(data, dict):
        raise ConfigError(path, "(top level)", f"is a {_kind(data)}", "a JSON object {...}")
    return data


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


# ----------------------------------------------------------------------------- structure


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def check_keys(data: dict[str, Any], schema: dict[str, Any], file: Path, prefix: str) -> None:
    """Unknown keys (with a 'did you mean') and missing keys are errors."""
    valid = ", ".join(schema)
    for key in data:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(file, _join(prefix, key), f"unknown key{hint}", valid)
    for key in schema:
        if key not in data:
            raise ConfigError(file, _join(prefix, key), "missing key", valid)


def check_like(value: Any, default: Any, file: Path, key: str) -> None:
    """``value`` must have the JSON type (and for lists the length) of ``default``."""
    if default is None:
        return
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise ConfigError(
                file, key, f"is a {_kind(value)}", f"an object with keys {list(default)}"
            )
        check_keys(value, default, file, key)
        for sub, sub_default in default.items():
            check_like(value[sub], sub_default, file, _join(key, sub))
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(file, key, f"is a {_kind(value)}", f"a list of {len(default)} items")
        if default and len(value) != len(default):
            raise ConfigError(
                file, key, f"has {len(value)} items", f"a list of {len(default)} items"
            )
        for i, item in enumerate(value):
            check_like(item, default[i] if default else None, file, f"{key}:{i}")
    elif isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(file, key, f"is a {_kind(value)}", "true or false")
    elif isinstance(default, int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(file, key, f"is a {_kind(value)} ({value!r})", "an integer")
    elif isinstance(default, float):
        if not _is_number(value):
            raise ConfigError(file, key, f"is a {_kind(value)} ({value!r})", "a number")
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(file, key, f"is a {_kind(value)}", "a string")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_range(
    value: float,
    file: Path,
    key: str,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """``low <= value <= high`` (``<`` where open); None: unbounded."""
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "-inf" if low is None else str(low)
        right = "inf" if high is None else str(high)
        interval = f"{'(' if low_open or low is None else '['}{left}, {right}"
        interval += ")" if high_open or high is None else "]"
        raise ConfigError(file, key, f"{value!r} is out of range", f"a value in {interval}")


# ----------------------------------------------------------------------------- roles


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
            elif _is_number(low) and low > high:
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
                if _is_number(lo) and _is_number(hi) and not lo <= value <= hi:
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


RL_COMMON_SCHEMA = {
    "algorithm": "one of " + ", ".join(ALGORITHMS),
    "random_seed": f"null or an integer in [0, {MAX_SEED}]",
    "log_episodes": "true or false",
    "evaluation_episodes": "an integer >= 1",
    "evaluation_target_radius": "a number > 0 (metres)",
}


def validate_rl_common(data: dict[str, Any], file: Path) -> dict[str, Any]:
    check_keys(data, RL_COMMON_SCHEMA, file, "")
    if data["algorithm"] not in ALGORITHMS:
        raise ConfigError(
            file, "algorithm", f"is {data['algorithm']!r}", RL_COMMON_SCHEMA["algorithm"]
        )
    seed = data["random_seed"]
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(
                file, "random_seed", f"is a {_kind(seed)}", RL_COMMON_SCHEMA["random_seed"]
            )
        check_range(seed, file, "random_seed", low=0, high=MAX_SEED)
    if not isinstance(data["log_episodes"], bool):
        raise ConfigError(
            file, "log_episodes", f"is a {_kind(data['log_episodes'])}", "true or false"
        )
    episodes = data["evaluation_episodes"]
    if not isinstance(episodes, int) or isinstance(episodes, bool):
        raise ConfigError(file, "evaluation_episodes", f"is a {_kind(episodes)}", "an integer >= 1")
    check_range(episodes, file, "evaluation_episodes", low=1)
    radius = data["evaluation_target_radius"]
    if not _is_number(radius):
        raise ConfigError(file, "evaluation_target_radius", f"is a {_kind(radius)}", "a number > 0")
    check_range(radius, file, "evaluation_target_radius", low=0, low_open=True)
    return data


# ----------------------------------------------------------------------------- rl_config


def algorithm_class(algorithm: str) -> type:
    """The stable-baselines3 class of ``algorithm`` ("ppo" or "sac")."""
    from stable_baselines3 import PPO, SAC

    return {"ppo": PPO, "sac": SAC}[algorithm]


def _annotation_kinds(annotation: Any) -> set[str]:
    """JSON kinds a constructor annotation accepts (empty: not settable from JSON)."""
    if annotation is type(None) or annotation is None:
        return {"null"}
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds: set[str] = set()
        for arg in typing.get_args(annotation):
            kinds |= _annotation_kinds(arg)
        return kinds
    if annotation is bool:
        return {"boolean"}
    if annotation is int:
        return {"integer"}
    if annotation is float:
        return {"number", "integer"}
    if annotation is str:
        return {"string"}
    if annotation is tuple or origin is tuple:
        return {"list"}
    return set()  # classes, callables, torch.device (given as a string: `| str`), ...


def rl_schema(algorithm: str) -> dict[str, set[str]]:
    """rl_config key -> accepted JSON kinds for ``algorithm``."""
    parameters = inspect.signature(algorithm_class(algorithm).__init__).parameters
    schema: dict[str, set[str]] = {}
    for name, parameter in parameters.items():
        if name in RL_EXCLUDED_ARGS:
            continue
        kinds = _annotation_kinds(parameter.annotation)
        if kinds - {"null"}:  # only-null arguments (classes, noise objects) are not settable
            schema[name] = kinds
    schema.update(
        num_layers={"integer"},
        num_hidden={"integer"},
        num_timesteps={"integer"},
        log_path={"string"},
        save_path={"string"},
        load_path={"string"},
    )
    return schema


# key -> (low, high, low_open, high_open) for numeric stable-baselines3 arguments
RL_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "learning_rate": (0, None, True, False),
    "n_steps": (1, None, False, False),
    "batch_size": (1, None, False, False),
    "n_epochs": (1, None, False, False),
    "gamma": (0, 1, False, False),
    "gae_lambda": (0, 1, False, False),
    "clip_range": (0, None, True, False),
    "clip_range_vf": (0, None, True, False),
    "ent_coef": (0, None, False, False),
    "vf_coef": (0, None, False, False),
    "max_grad_norm": (0, None, True, False),
    "sde_sample_freq": (-1, None, False, False),
    "target_kl": (0, None, True, False),
    "stats_window_size": (1, None, False, False),
    "buffer_size": (1, None, False, False),
    "learning_starts": (0, None, False, False),
    "tau": (0, 1, True, False),
    "gradient_steps": (-1, None, False, False),
    "target_update_interval": (1, None, False, False),
    "verbose": (0, 2, False, False),
    "num_layers": (1, None, False, False),
    "num_hidden": (1, None, False, False),
    "num_timesteps": (1, None, False, False),
}


def _describe(kinds: set[str]) -> str:
    articles = {
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "string": "a string",
        "list": "a list",
        "null": "null",
    }
    names = [k for k in articles if k in kinds]
    if "number" in names and "integer" in names:
        names.remove("integer")
    return " or ".join(articles[n] for n in names)


def validate_rl(
    data: dict[str, Any], file: Path, algorithm: str, check_load_path: bool = True
) -> dict[str, Any]:
    """rl_config for ``algorithm``: SB3 argument names, JSON types, ranges, paths."""
    schema = rl_schema(algorithm)
    valid = ", ".join(schema)
    for key in data:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(file, key, f"unknown key for algorithm {algorithm!r}{hint}", valid)
    for key in RL_EXTRA_KEYS:
        if key not in data:
            raise ConfigError(file, key, "missing key", f"required: {', '.join(RL_EXTRA_KEYS)}")
    for key, value in data.items():
        kinds = schema[key]
        if _kind(value) not in kinds or (_kind(value) == "number" and not math.isfinite(value)):
            raise ConfigError(file, key, f"is a {_kind(value)} ({value!r})", _describe(kinds))
        if key in RL_RANGES and _is_number(value):
            low, high, low_open, high_open = RL_RANGES[key]
            check_range(value, file, key, low, high, low_open, high_open)
    _check_rl_specials(data, file, algorithm, check_load_path)
    return data


def _check_rl_specials(
    data: dict[str, Any], file: Path, algorithm: str, check_load_path: bool
) -> None:
    if algorithm == "ppo" and data.get("normalize_advantage", True) and "batch_size" in data:
        check_range(data["batch_size"], file, "batch_size", low=2)  # SB3 asserts > 1
    for key in ("ent_coef", "target_entropy"):
        value = data.get(key)
        if isinstance(value, str):
            tail = value[len("auto_") :] if value.startswith("auto_") else None
            if value != "auto" and (key != "ent_coef" or not _is_float_text(tail)):
                choices = (
                    '"auto", "auto_<initial value>" or a number'
                    if key == "ent_coef"
                    else ('"auto" or a number')
                )
                raise ConfigError(file, key, f"is {value!r}", choices)
    freq = data.get("train_freq")
    if isinstance(freq, list):
        if (
            len(freq) != 2
            or not isinstance(freq[0], int)
            or isinstance(freq[0], bool)
            or freq[0] < 1
            or freq[1] not in ("step", "episode")
        ):
            raise ConfigError(
                file, "train_freq", f"is {freq!r}", 'an integer >= 1 or [n >= 1, "step"|"episode"]'
            )
    elif isinstance(freq, int):
        check_range(freq, file, "train_freq", low=1)
    if (
        "device" in data
        and data["device"] not in ("auto", "cpu", "cuda")
        and not str(data["device"]).startswith("cuda:")
    ):
        raise ConfigError(file, "device", f"is {data['device']!r}", '"auto", "cpu", "cuda[:N]"')
    for key in ("log_path", "save_path"):
        if not data[key]:
            raise ConfigError(file, key, "is empty", "a path relative to the current directory")
    if not data["save_path"].endswith(".zip"):
        raise ConfigError(file, "save_path", f"is {data['save_path']!r}", "a path ending in .zip")
    load_path = data["load_path"]
    if load_path and not load_path.endswith(".zip"):
        raise ConfigError(file, "load_path", f"is {load_path!r}", '"" or a path ending in .zip')
    if load_path and check_load_path and not Path(load_path).is_file():
        raise ConfigError(
            file,
            "load_path",
            f"model file not found: {Path(load_path).resolve()}",
            '"" (train from scratch) or a saved model .zip (relative to the current directory)',
        )


def _is_float_text(text: str | None) -> bool:
    if text is None:
        return False
    try:
        return math.isfinite(float(text)) and float(text) > 0
    except ValueError:
        return False
