"""One entry of an rl-baselines3-zoo hyperparameter file (``hyperparams/ppo.yml``,
``sac.yml``) converted to this suite's rl_config and rl_common_config (``lttfs zoo``:
learning/config/zoo.py).

The file is read with ``yaml.safe_load`` (anchors and ``<<:`` merges resolved); its
Python-expression strings are read as data (learning/config/zoo_values.py). An entry's
stable-baselines3 arguments keep their names in rl_config; ``n_timesteps`` becomes
``num_timesteps``; ``n_envs``, ``normalize`` (+ ``normalize_kwargs``) and ``policy_kwargs``
their rl_config counterparts, ``env_kwargs`` rl_common_config's; ``policy`` must be
MlpPolicy; a ``lin_<value>`` schedule is an error unless ``--schedules initial`` asks for
its initial value. Hyperparameters the entry leaves out get stable-baselines3's defaults
(what the zoo trains with); the rest of rl_config (paths, device, verbose, vec_env) and of
rl_common_config come from the shipped defaults (config/<algorithm>_default.json,
config/rl_common.json). Every problem is a ConfigError naming the YAML file,
``<entry>.<key>`` and what is valid.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError, is_number, json_kind, read_json_object
from learning.config.env_choice import ENV_KEYS
from learning.config.policy import validate_normalize, validate_policy_kwargs
from learning.config.rl import RL_EXTRA_KEYS, rl_schema
from learning.config.sb3_schema import ALGORITHMS, default
from learning.config.zoo_values import (
    ZooValueError,
    normalize_of,
    policy_kwargs_of,
    vecnormalize_arguments,
)
from learning.contract import DEFAULT_CONFIG_DIR

#: the zoo's keys of its own that are converted (the others are stable-baselines3's)
ZOO_KEYS = ("n_timesteps", "n_envs", "policy", "policy_kwargs", "normalize",
            "normalize_kwargs", "env_kwargs")
#: rl_config keys that are ours or the learner's, not taken from an entry by their name
OURS = (*RL_EXTRA_KEYS, "n_envs", "vec_env", "policy_kwargs", "normalize")
#: rl_config's stable-baselines3 arguments that are run settings: from the shipped
#: defaults (device "cpu", verbose 1) unless the entry names them
RUN_SETTINGS = ("device", "verbose")
#: what the zoo's keys without a counterpart here do there
NOT_AVAILABLE = {
    "env_wrapper": "wraps the env", "vec_env_wrapper": "wraps the vectorized env",
    "frame_stack": "stacks frames", "callback": "adds training callbacks",
    "monitor_kwargs": "configures the Monitor wrapper",
    "replay_buffer_class": "chooses the replay buffer",
    "replay_buffer_kwargs": "configures the replay buffer", "noise_type": "adds action noise",
    "noise_std": "adds action noise",
}
SCHEDULE = re.compile(r"lin_(.*)")
SCHEDULE_CHOICES = ("error", "initial")
#: MlpPolicy's hidden layers when policy_kwargs gives no net_arch (stable-baselines3's)
SB3_LAYERS = {"ppo": (2, 64), "sac": (2, 256)}


def read_entry(yaml_file: Path, name: str) -> dict[str, Any]:
    """The entry ``name`` of a zoo hyperparameter file (a YAML mapping of entries)."""
    import yaml

    try:
        text = yaml_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = getattr(e, "strerror", None) or str(e)
        raise ConfigError(yaml_file, "(file)", f"cannot read: {why}", "a zoo hyperparameter"
                          " YAML file (UTF-8), e.g. hyperparams/ppo.yml") from e
    try:
        entries = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(yaml_file, "(yaml)", f"not valid YAML: {problem}{where}") from e
    if not isinstance(entries, dict):
        raise ConfigError(yaml_file, "(top level)", f"is a {json_kind(entries)}",
                          "a mapping of entries (env names) to their hyperparameters")
    if name not in entries:
        raise ConfigError(yaml_file, name, "no such entry", ", ".join(map(str, entries)))
    entry = entries[name]
    if not isinstance(entry, dict):
        raise ConfigError(yaml_file, name, f"is a {json_kind(entry)}",
                          "a mapping of hyperparameters")
    return entry


def algorithm_of(yaml_file: Path, given: str | None) -> str:
    """The algorithm: ``--algorithm`` or the file's name (ppo.yml, sac.yml)."""
    stem = yaml_file.stem.lower()
    if given and stem in ALGORITHMS and stem != given:
        raise ConfigError(yaml_file, "(file name)", f"holds {stem}'s hyperparameters, not"
                          f" those of --algorithm {given}", f"--algorithm {stem}")
    if given or stem in ALGORITHMS:
        return given or stem
    raise ConfigError(yaml_file, "(file name)", "does not say the algorithm",
                      "--algorithm " + " or ".join(ALGORITHMS))


class Conversion:
    """An entry converted: the two role configs and what was converted non-trivially."""

    def __init__(self, yaml_file: Path, name: str, entry: dict[str, Any], algorithm: str,
                 schedules: str):
        self.yaml_file, self.name, self.entry = yaml_file, name, entry
        self.algorithm, self.schedules = algorithm, schedules
        self.schema = rl_schema(algorithm)
        self.rl: dict[str, Any] = {}
        self.rl_common: dict[str, Any] = {}
        self.notes: list[str] = []

    def error(self, key: str, problem: str, valid: str = "") -> ConfigError:
        return ConfigError(self.yaml_file, f"{self.name}.{key}", problem, valid)

    def supported(self) -> list[str]:
        return [key for key in self.schema if key not in OURS] + list(ZOO_KEYS)


def convert_entry(yaml_file: Path, name: str, entry: dict[str, Any], algorithm: str,
                  env_id: str, schedules: str = "error") -> Conversion:
    """rl_config and rl_common_config of ``entry`` (see the module's docstring)."""
    conversion = Conversion(yaml_file, name, entry, algorithm, schedules)
    converted: dict[str, Any] = {}
    for key, value in entry.items():
        if key not in conversion.supported():
            does = f" (the zoo's {key} {NOT_AVAILABLE[key]})" if key in NOT_AVAILABLE else ""
            raise conversion.error(str(key), f"not supported by this suite{does}",
                                   ", ".join(conversion.supported()))
        if key not in ZOO_KEYS:
            converted[key] = _sb3_value(conversion, key, value)
    _zoo_keys(conversion, entry, converted)
    _assemble_rl(conversion, converted)
    _assemble_rl_common(conversion, env_id)
    return conversion


def _sb3_value(conversion: Conversion, key: str, value: Any) -> Any:
    """A stable-baselines3 argument's value: a schedule's initial value (``--schedules
    initial``), a number YAML 1.1 read as a string (``1e-3``), an integral float where
    an integer is wanted."""
    kinds = conversion.schema[key]
    schedule = SCHEDULE.fullmatch(value) if isinstance(value, str) else None
    if schedule:
        initial = _number(schedule.group(1))
        if initial is None:
            raise conversion.error(key, f"is {value!r}", "lin_<number> or a constant")
        if conversion.schedules != "initial":
            raise conversion.error(key, f"is the linear schedule {value!r}: rl_config takes"
                                   " constants", f"a number; --schedules initial writes the"
                                   f" schedule's initial value ({initial!r})")
        conversion.notes.append(f"{key}: {value!r} -> {initial!r} (the schedule's initial"
                                " value: --schedules initial)")
        value = initial
    elif isinstance(value, str) and "number" in kinds and _number(value) is not None:
        conversion.notes.append(f"{key}: {value!r} (a string to YAML 1.1) -> {_number(value)!r}")
        value = _number(value)
    if isinstance(value, float) and value.is_integer() and "number" not in kinds \
            and "integer" in kinds:
        conversion.notes.append(f"{key}: {value!r} -> {int(value)}")
        value = int(value)
    return value


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if is_number(value) else None


def _zoo_keys(conversion: Conversion, entry: dict[str, Any], converted: dict[str, Any]) -> None:
    """The zoo's own keys (:data:`ZOO_KEYS`) into ``converted`` under rl_config's names."""
    algorithm, error = conversion.algorithm, conversion.error
    policy = entry.get("policy", "MlpPolicy")
    if policy != "MlpPolicy":
        raise error("policy", f"is {policy!r}", "'MlpPolicy' (the learner trains"
                    " stable-baselines3's MlpPolicy)")
    for key, ours in (("n_timesteps", "num_timesteps"), ("n_envs", "n_envs")):
        if key in entry:
            value = entry[key]
            count = _number(value) if isinstance(value, str) else value
            if not is_number(count) or not float(count).is_integer():
                raise error(key, f"is {value!r}", "an integer")
            converted[ours] = int(count)
            if ours != key or type(value) is not int:
                conversion.notes.append(f"{key}: {value!r} -> {ours}: {int(count)}")
    for key, convert in (("policy_kwargs", lambda v: policy_kwargs_of(v, algorithm)),
                         ("normalize", normalize_of),
                         ("normalize_kwargs", vecnormalize_arguments)):
        if key in entry:
            try:
                converted[key] = convert(copy.deepcopy(entry[key]))
            except ZooValueError as e:
                raise error(key + e.key, e.problem, e.valid) from e
    if "normalize_kwargs" in converted:
        normalize = converted.get("normalize", False)
        if normalize is False:
            raise error("normalize_kwargs", "given while normalize is false or left out",
                        "normalize: true, or leave normalize_kwargs out")
        converted["normalize"] = {**({} if normalize is True else normalize),
                                  **converted.pop("normalize_kwargs")}
    if "env_kwargs" in entry:
        if not isinstance(entry["env_kwargs"], dict):
            raise error("env_kwargs", f"is a {json_kind(entry['env_kwargs'])}",
                        ENV_KEYS["env_kwargs"])
        conversion.rl_common["env_kwargs"] = entry["env_kwargs"]


def _assemble_rl(conversion: Conversion, converted: dict[str, Any]) -> None:
    """rl_config in the shipped defaults' order: the stable-baselines3 hyperparameters (the
    entry's, else stable-baselines3's defaults), the training env's, the network's, ours."""
    algorithm, schema = conversion.algorithm, conversion.schema
    defaults_file = DEFAULT_CONFIG_DIR / f"{algorithm}_default.json"
    shipped = read_json_object(defaults_file)
    hyperparameters = [key for key in [*shipped, *converted] if key in schema
                       and key not in (*OURS, *RUN_SETTINGS)]
    rl, from_sb3, from_shipped = conversion.rl, [], []
    for key in dict.fromkeys(hyperparameters):
        if key not in converted:
            converted[key] = default(algorithm, key)
            from_sb3.append(f"{key} {converted[key]!r}")
        rl[key] = converted[key]
    for key in ("n_envs", "vec_env"):
        rl[key] = converted.get(key, shipped[key])
    policy_kwargs = converted.get("policy_kwargs", {})
    if policy_kwargs.get("net_arch") is None:
        rl["num_layers"], rl["num_hidden"] = SB3_LAYERS[algorithm]
        conversion.notes.append("policy_kwargs.net_arch: not given -> num_layers {} x"
                                " num_hidden {} (MlpPolicy's default)".format(
                                    *SB3_LAYERS[algorithm]))
    try:
        rl["policy_kwargs"] = validate_policy_kwargs(policy_kwargs, defaults_file, algorithm)
        rl["normalize"] = validate_normalize(converted.get("normalize"), defaults_file)
    except ConfigError as e:
        raise conversion.error(e.key, e.problem, e.valid) from e
    for key in ("policy_kwargs", "normalize"):
        if key in converted:
            given = conversion.entry[key]
            shown = repr(" ".join(given.split())) if isinstance(given, str) else json.dumps(given)
            conversion.notes.append(f"{key}: {shown} -> {json.dumps(rl[key])}")
    for key in ("num_timesteps", "log_path", "save_path", "load_path", *RUN_SETTINGS):
        if key not in converted:
            from_shipped.append(key)
        rl[key] = converted.get(key, shipped[key])
    if from_sb3:
        conversion.notes.append("not in the entry, stable-baselines3's defaults (as the zoo"
                                " trains): " + ", ".join(from_sb3))
    conversion.notes.append(f"from config/{defaults_file.name}: {', '.join(from_shipped)}")


def _assemble_rl_common(conversion: Conversion, env_id: str) -> None:
    """config/rl_common.json's keys but the env's and evaluation_target_radius (the table
    tennis's), the algorithm, a random seed per run (null), the env id and the entry's
    env_kwargs."""
    shipped = read_json_object(DEFAULT_CONFIG_DIR / "rl_common.json")
    common = {key: value for key, value in shipped.items()
              if key not in (*ENV_KEYS, "evaluation_target_radius")}
    common.update(algorithm=conversion.algorithm, random_seed=None, env_id=env_id)
    conversion.rl_common = {**common, **conversion.rl_common}
