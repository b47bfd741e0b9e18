"""Parameter addressing: merge values into the role configs by dotted address.

A job's settings (what cluster_utils passes as ``--parameter-dict``, or a
``settings.json``) carry the learner configuration under the key ``config``; the same
addresses, without the ``config.`` prefix, are the overrides of
``python -m learning CONFIG.json role.key=value`` (learning/config/overrides.py), which
may also set rl_config's paths (a job sets those itself).

``<role>.<key>[.<key>...]``
    Overrides one existing key of a role's template; dots go into nested dicts.  A
    ``:N`` suffix (any number of digits, repeatable: ``key:1:0``) addresses item N of a
    list.  Example: ``hysr_config.robot_position:0``.

cluster_utils splits parameter names at dots into nested dicts
(``{"config": {"hysr_config": {"robot_position:0": 0.4}}}``); dotted keys written by
hand in a settings file are accepted too (:func:`collect_overrides`).  Every address must
name a key that exists in the template, with a value of the same JSON type (an integer
is accepted where the template has a number; a template value ``null`` accepts any
value; rl_config keys take what stable-baselines3's signature and rl_config's checks
take, and ``rl_config.policy_kwargs.net_arch`` layer lists may change their length).
Anything else raises :class:`ParameterError` naming the parameter, the template file and
what is valid; keys are never added.  :func:`merge_and_validate` then runs the config checks on
the merged roles and names the parameter when an overridden value is out of range.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from learning.config.checks import json_kind
from learning.contract import JOB_MANAGED_RL_KEYS
from learning.numpy_scalars import without_numpy_scalars

TEMPLATES_KEY = "config_templates"
#: the prefix of learner parameters among a job's settings
PREFIX = "config."

#: rl_config.policy_kwargs.net_arch and below: layer size lists of any length
LAYER_SIZES = ["policy_kwargs", "net_arch"]

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)((?::[0-9]+)*)$")

Templates = Mapping[str, tuple[Path, dict[str, Any]]]


class ParameterError(ValueError):
    """A parameter that cannot be applied; the message names it and says why."""


def parse_address(address: str) -> list[str | int]:
    """Split ``role.key.sub:3:0`` into ``["role", "key", "sub", 3, 0]``."""
    parts: list[str | int] = []
    for dotted in address.split("."):
        match = _SEGMENT.match(dotted)
        if not match:
            raise ParameterError(
                f"parameter '{PREFIX}{address}': '{dotted}' is not a valid key; expected"
                " <key> or <key>:<index> (letters, digits, _ or -, indices are digits)"
            )
        parts.append(match.group(1))
        parts.extend(int(index) for index in match.group(2).split(":")[1:])
    return parts


def _flatten(tree: Mapping[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            _flatten(value, name, out)
        else:
            if name in out:
                raise ParameterError(f"parameter '{PREFIX}{name}' is given twice")
            out[name] = value


def collect_overrides(settings: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Return ``(config_templates value or None, {address: value})`` from job settings.

    Accepts the nested form cluster_utils delivers and dotted keys (also top-level
    ``"config.<...>"`` keys).  Addresses are relative to ``config``.
    """
    config = settings.get("config", {})
    if not isinstance(config, Mapping):
        raise ParameterError(
            f"setting 'config' must be a dict of parameters, got {json_kind(config)}"
        )
    flat: dict[str, Any] = {}
    _flatten(config, "", flat)
    for key, value in settings.items():
        if isinstance(key, str) and key.startswith(PREFIX):
            name = key[len(PREFIX):]
            if isinstance(value, Mapping):
                _flatten(value, name, flat)
            elif name in flat:
                raise ParameterError(f"parameter '{PREFIX}{name}' is given twice")
            else:
                flat[name] = value
    templates = flat.pop(TEMPLATES_KEY, None)
    return templates, flat


def _valid_keys(node: dict[str, Any]) -> str:
    keys = sorted(node)
    text = ", ".join(keys[:40])
    return text + (", ..." if len(keys) > 40 else "")


def type_mismatch(template_value: Any, value: Any) -> str | None:
    """Why ``value`` cannot replace ``template_value`` (JSON kinds), None if it can."""
    if template_value is None:
        return None
    want, got = json_kind(template_value), json_kind(value)
    if want == got and want != "list":
        return None
    if want == "number" and got == "integer":
        return None
    if want == "list" and got == "list":
        if len(value) != len(template_value):
            return f"a list of {len(template_value)} items like the template, got {len(value)}"
        for index, (old, new) in enumerate(zip(template_value, value, strict=True)):
            reason = type_mismatch(old, new)
            if reason:
                return f"item {index}: {reason}"
        return None
    return f"{want} like the template value {template_value!r}, got {got} {value!r}"


def _sb3_accepts(algorithm: Any, key: str, value: Any) -> bool:
    """Whether stable-baselines3's own signature takes ``value`` for rl_config ``key``
    (SAC's ``ent_coef`` is "auto" or a number), read from learning.config.sb3_schema."""
    from learning.config.rl import rl_schema

    try:
        kinds = rl_schema(algorithm).get(key, set())
    except KeyError:  # an unknown algorithm: validate_rl_common names it
        return False
    return json_kind(value) in kinds


def _check_role_and_key(
    name: str, parts: list, templates: Templates, merged: dict, reserved_rl_keys: Collection[str]
) -> None:
    role = parts[0]
    if role not in templates:
        raise ParameterError(
            f"parameter '{name}': unknown role '{role}'; valid roles:"
            f" {', '.join(templates)} (the roles of its env), and {TEMPLATES_KEY}"
        )
    if len(parts) < 2:
        raise ParameterError(
            f"parameter '{name}': name a key of {role} ({templates[role][0]}), e.g."
            f" {PREFIX}{role}.<key>; valid keys: {_valid_keys(merged[role])}"
        )
    if role == "rl_config" and parts[1] in reserved_rl_keys:
        raise ParameterError(
            f"parameter '{name}': {role}.{parts[1]} is set by the job for every run"
            " (run directories); it cannot be a parameter"
        )


def _step(name: str, node: Any, part: str | int, where: str, file: Path) -> None:
    """Check that ``node`` (at ``where``) has ``part``: a key of a dict, an index of a list."""
    if isinstance(part, str):
        if not isinstance(node, dict):
            raise ParameterError(
                f"parameter '{name}': {where} in {file} is {json_kind(node)}, not an"
                f" object; it has no key '{part}'"
            )
        if part not in node:
            raise ParameterError(
                f"parameter '{name}': unknown key '{part}' in {where} of {file};"
                f" valid keys: {_valid_keys(node)}"
            )
    elif not isinstance(node, list):
        raise ParameterError(
            f"parameter '{name}': index :{part} on {where} in {file}, which is"
            f" {json_kind(node)}, not a list"
        )
    elif part >= len(node):
        raise ParameterError(
            f"parameter '{name}': index :{part} out of range for {where} in {file} (a list"
            f" of {len(node)} items; valid: 0..{len(node) - 1})"
        )


def _set_one(
    merged: dict, templates: Templates, address: str, value: Any, reserved_rl_keys: Collection[str]
) -> None:
    name = PREFIX + address
    value = without_numpy_scalars(value)  # numpy scalars from a cluster_utils distribution
    parts = parse_address(address)
    _check_role_and_key(name, parts, templates, merged, reserved_rl_keys)
    role, file = parts[0], templates[parts[0]][0]
    node, where = merged[role], role
    for part in parts[1:]:
        _step(name, node, part, where, file)
        parent, node = node, node[part]
        where = f"{where}.{part}" if isinstance(part, str) else f"{where}:{part}"
    reason = type_mismatch(node, value)
    if reason and len(parts) == 2 and role == "rl_config":
        if _sb3_accepts(merged["rl_common_config"].get("algorithm"), str(parts[1]), value):
            reason = None
    if reason and role == "rl_config" and parts[1:3] == LAYER_SIZES:
        reason = None  # any number of layers; the rl_config checks check the sizes
    if reason:
        raise ParameterError(
            f"parameter '{name}': wrong type for {where} in {file}: expected {reason}"
        )
    parent[parts[-1]] = json.loads(json.dumps(value))  # tuples -> lists, a fresh copy


def apply_overrides(
    templates: Templates,
    overrides: Mapping[str, Any],
    reserved_rl_keys: Collection[str] = JOB_MANAGED_RL_KEYS,
) -> dict[str, dict]:
    """Return ``{role: merged dict}``; the templates are not modified.

    ``reserved_rl_keys``: rl_config keys that cannot be overridden (a job sets its
    learners' paths itself; ``python -m learning`` passes none).
    """
    merged = {role: copy.deepcopy(content) for role, (_, content) in templates.items()}
    for address, value in overrides.items():
        _set_one(merged, templates, address, value, reserved_rl_keys)
    return merged
