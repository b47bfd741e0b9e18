"""rl_config and rl_common_config: stable-baselines3's own argument names and types (read
from the signature of ``PPO.__init__`` / ``SAC.__init__``, cached per installed version
without importing it: learning.config.sb3_schema), our extra keys, ranges."""

from __future__ import annotations

import copy
import difflib
import math
import re
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError, check_keys, check_range, is_number, json_kind
from learning.config.env_choice import ENV_DEFAULTS, ENV_KEYS, check_env_keys
from learning.config.policy import (
    check_network_sizes,
    validate_normalize,
    validate_policy_kwargs,
)
from learning.config.sb3_limits import ALGORITHMS, check_sb3_limits
from learning.config.sb3_schema import arguments

# rl_config keys that are ours, not stable-baselines3's.
RL_EXTRA_KEYS = ("num_layers", "num_hidden", "num_timesteps", "log_path", "save_path", "load_path")
# rl_config keys that are required.
RL_REQUIRED_KEYS = ("num_timesteps", "log_path", "save_path", "load_path")
# rl_config keys the learner applies itself, not as constructor arguments: the policy's
# arguments (learning/config/policy.py) and VecNormalize's.
RL_WRAPPER_KEYS = ("policy_kwargs", "normalize")
# Optional rl_config keys of ours (the training env's) and the defaults validation fills.
RL_VEC_ENV_DEFAULTS = {"n_envs": 1, "vec_env": "dummy"}
VEC_ENV_KINDS = ("dummy", "subproc")
# rl_config "device" (stable-baselines3's argument): the learner's default is the CPU, not
# SB3's "auto", which takes a GPU wherever one is visible (learning/training/device.py).
RL_DEVICE_DEFAULT = "cpu"
DEVICE_CHOICES = ('"cpu" (the default), "cuda", "cuda:N" (N: the index of a visible GPU)'
                  ' or "auto" (stable-baselines3 picks: a GPU if one is visible, else the CPU)')
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


RL_COMMON_SCHEMA = {
    "algorithm": "one of " + ", ".join(ALGORITHMS),
    "random_seed": f"null or an integer in [0, {MAX_SEED}]",
    "log_episodes": "true or false",
    "evaluation_episodes": "an integer >= 1",
    "evaluation_target_radius": "a number > 0 (metres; optional, default 0.5; used by envs"
                                " that score returns to a target, the table tennis)",
    "torch_threads": "an integer >= 1 (optional, default 1)",
    "checkpoint_interval": "an integer >= 0 (optional, default 50000; 0: no checkpoints)",
    **ENV_KEYS,  # the env: learning/config/env_choice.py
}
# Optional rl_common_config keys and the defaults validation fills.
RL_COMMON_DEFAULTS = {"torch_threads": 1, "checkpoint_interval": 50_000,
                      "evaluation_target_radius": 0.5, **ENV_DEFAULTS}


def _check_count(data: dict[str, Any], file: Path, key: str) -> None:
    """``data[key]`` is an integer >= 1."""
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError(file, key, f"is a {json_kind(value)} ({value!r})", "an integer >= 1")
    check_range(value, file, key, low=1)


def validate_rl_common(data: dict[str, Any], file: Path) -> dict[str, Any]:
    """rl_common_config's checks; returns a copy with the optional keys' defaults."""
    data = dict(data)
    for key, default in RL_COMMON_DEFAULTS.items():
        data.setdefault(key, copy.deepcopy(default))
    check_keys(data, RL_COMMON_SCHEMA, file, "")
    check_env_keys(data, file)
    _check_count(data, file, "torch_threads")
    interval = data["checkpoint_interval"]
    if not isinstance(interval, int) or isinstance(interval, bool):
        raise ConfigError(file, "checkpoint_interval", f"is a {json_kind(interval)}"
                          f" ({interval!r})", RL_COMMON_SCHEMA["checkpoint_interval"])
    check_range(interval, file, "checkpoint_interval", low=0)
    if data["algorithm"] not in ALGORITHMS:
        raise ConfigError(
            file, "algorithm", f"is {data['algorithm']!r}", RL_COMMON_SCHEMA["algorithm"]
        )
    seed = data["random_seed"]
    if seed is not None:
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ConfigError(
                file, "random_seed", f"is a {json_kind(seed)}", RL_COMMON_SCHEMA["random_seed"]
            )
        check_range(seed, file, "random_seed", low=0, high=MAX_SEED)
    if not isinstance(data["log_episodes"], bool):
        raise ConfigError(
            file, "log_episodes", f"is a {json_kind(data['log_episodes'])}", "true or false"
        )
    episodes = data["evaluation_episodes"]
    if not isinstance(episodes, int) or isinstance(episodes, bool):
        raise ConfigError(
            file, "evaluation_episodes", f"is a {json_kind(episodes)}", "an integer >= 1"
        )
    check_range(episodes, file, "evaluation_episodes", low=1)
    radius = data["evaluation_target_radius"]
    if not is_number(radius):
        raise ConfigError(
            file, "evaluation_target_radius", f"is a {json_kind(radius)}", "a number > 0"
        )
    check_range(radius, file, "evaluation_target_radius", low=0, low_open=True)
    return data


def rl_schema(algorithm: str) -> dict[str, set[str]]:
    """rl_config key -> accepted JSON kinds for ``algorithm`` (KeyError for another
    algorithm than those of ALGORITHMS)."""
    schema: dict[str, set[str]] = {}
    for name, (kinds, _) in arguments(algorithm).items():
        if name in RL_EXCLUDED_ARGS:
            continue
        if kinds - {"null"}:  # only-null arguments (classes, noise objects) are not settable
            schema[name] = kinds
    schema.update(
        device={"string"},
        n_envs={"integer"},
        vec_env={"string"},
        num_layers={"integer", "null"},
        num_hidden={"integer", "null"},
        policy_kwargs={"object", "null"},
        normalize={"boolean", "object"},
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
    "n_envs": (1, None, False, False),
}


def _describe(kinds: set[str]) -> str:
    articles = {
        "integer": "an integer",
        "number": "a number",
        "boolean": "true or false",
        "string": "a string",
        "list": "a list",
        "object": "an object",
        "null": "null",
    }
    names = [k for k in articles if k in kinds]
    if "number" in names and "integer" in names:
        names.remove("integer")
    return " or ".join(articles[n] for n in names)


def validate_rl(
    data: dict[str, Any], file: Path, algorithm: str, check_load_path: bool = True
) -> dict[str, Any]:
    """rl_config for ``algorithm``: SB3 argument names, JSON types, ranges, paths; returns
    a copy with the defaults of the optional keys filled in (policy_kwargs, normalize,
    num_layers/num_hidden in their object forms; n_envs, vec_env; device "cpu")."""
    schema = rl_schema(algorithm)
    valid = ", ".join(schema)
    for key in data:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(file, key, f"unknown key for algorithm {algorithm!r}{hint}", valid)
    data = dict(data)
    for key, default in RL_VEC_ENV_DEFAULTS.items():
        data.setdefault(key, default)
    data.setdefault("device", RL_DEVICE_DEFAULT)
    for key in RL_REQUIRED_KEYS:
        if key not in data:
            raise ConfigError(file, key, "missing key", f"required: {', '.join(RL_REQUIRED_KEYS)}")
    for key, value in data.items():
        kinds = schema[key]
        if json_kind(value) not in kinds or (
            json_kind(value) == "number" and not math.isfinite(value)
        ):
            raise ConfigError(file, key, f"is a {json_kind(value)} ({value!r})", _describe(kinds))
        if key in RL_RANGES and is_number(value):
            low, high, low_open, high_open = RL_RANGES[key]
            check_range(value, file, key, low, high, low_open, high_open)
    _check_rl_specials(data, file, algorithm, check_load_path)
    data = dict(data, num_layers=data.get("num_layers"), num_hidden=data.get("num_hidden"))
    data["policy_kwargs"] = validate_policy_kwargs(data.get("policy_kwargs"), file, algorithm)
    data["normalize"] = validate_normalize(data.get("normalize"), file)
    check_network_sizes(data, file, algorithm)
    check_sb3_limits(data, file, algorithm)
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
    if data["vec_env"] not in VEC_ENV_KINDS:
        raise ConfigError(file, "vec_env", f"is {data['vec_env']!r}", " or ".join(
            f'"{kind}"' for kind in VEC_ENV_KINDS))
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
    # whether the CUDA device is visible is checked where the learner runs (a sweep is
    # often launched from a machine without the compute nodes' GPUs)
    if not re.fullmatch(r"cpu|auto|cuda(:[0-9]+)?", data["device"]):
        raise ConfigError(file, "device", f"is {data['device']!r}", DEVICE_CHOICES)
    for key in ("log_path", "save_path"):
        if not data[key]:
            raise ConfigError(file, key, "is empty", "a path relative to the current directory")
    if not data["save_path"].endswith(".zip"):
        raise ConfigError(file, "save_path", f"is {data['save_path']!r}", "a path ending in .zip")
    load_path = data["load_path"]
    if data["num_timesteps"] < (0 if load_path else 1):
        raise ConfigError(file, "num_timesteps", f"{data['num_timesteps']!r} is out of range",
                          "an integer >= 1 (0 only with a load_path: evaluate that model"
                          " without training it)")
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
