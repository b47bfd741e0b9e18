"""Parameter addressing: merge sampled hyperparameters into the template configs.

A job's settings (what cluster_utils passes as ``--parameter-dict``, or a
``settings.json``) carry the learner configuration under the key ``config``:

``config.config_templates``
    Path to a JSON file that maps the five roles (``reward_config``,
    ``hysr_config``, ``pam_config``, ``rl_config``, ``rl_common_config``) to
    template files.  Relative template paths resolve against the folder of that
    mapping file.  A relative ``config_templates`` path resolves against the
    current working directory (cluster_utils starts jobs in the project
    directory) and, if no such file exists there, against the project directory
    (the folder holding ``run_learning.py``).

``config.<role>.<key>[.<key>...]``
    Overrides one existing key of a template; dots go into nested dicts.  A
    ``:N`` suffix (any number of digits, repeatable: ``key:1:0``) addresses item N
    of a list.  Example: ``config.hysr_config.robot_position:0``.

cluster_utils splits parameter names at dots into nested dicts
(``{"config": {"hysr_config": {"robot_position:0": 0.4}}}``); dotted keys written
by hand in a settings file are accepted too.  Every address must name a key that
exists in the template, with a value of the same JSON type (an int is accepted
where the template has a float; a template value ``null`` accepts any value).
Anything else raises :class:`ParameterError` naming the parameter, the template
file and what is valid: the job then fails at once, before any training.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The five config roles, in the order of config/config.json.
ROLES = ("reward_config", "hysr_config", "pam_config", "rl_config", "rl_common_config")

#: rl_config keys the job sets itself for every learner run.
JOB_MANAGED_KEYS = {
    "rl_config": ("log_path", "save_path", "load_path"),
}

TEMPLATES_KEY = "config_templates"
PROJECT_DIR = Path(__file__).resolve().parents[2]

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)((?::[0-9]+)*)$")


class ParameterError(ValueError):
    """A parameter or template that cannot be used; the message says why."""


def parse_address(address: str) -> list[str | int]:
    """Split ``role.key.sub:3:0`` into ``["role", "key", "sub", 3, 0]``."""
    parts: list[str | int] = []
    for dotted in address.split("."):
        match = _SEGMENT.match(dotted)
        if not match:
            raise ParameterError(
                f"parameter 'config.{address}': '{dotted}' is not a valid key; expected"
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
                raise ParameterError(f"parameter 'config.{name}' is given twice")
            out[name] = value


def collect_overrides(settings: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """Return ``(config_templates value or None, {address: value})`` from settings.

    Accepts the nested form cluster_utils delivers and dotted keys (also
    top-level ``"config.<...>"`` keys).  Addresses are relative to ``config``.
    """
    config = settings.get("config", {})
    if not isinstance(config, Mapping):
        raise ParameterError(
            f"setting 'config' must be a dict of parameters, got {type(config).__name__}"
        )
    flat: dict[str, Any] = {}
    _flatten(config, "", flat)
    for key, value in settings.items():
        if isinstance(key, str) and key.startswith("config."):
            if isinstance(value, Mapping):
                _flatten(value, key[len("config.") :], flat)
            else:
                name = key[len("config.") :]
                if name in flat:
                    raise ParameterError(f"parameter 'config.{name}' is given twice")
                flat[name] = value
    templates = flat.pop(TEMPLATES_KEY, None)
    return templates, flat


def resolve_templates_path(value: Any, cwd: Path | None = None) -> Path:
    """Find the templates mapping file named by ``config.config_templates``."""
    if not isinstance(value, str) or not value:
        raise ParameterError(
            "parameter 'config.config_templates' is required: the path of a JSON file"
            " mapping the roles " + ", ".join(ROLES) + " to template files"
            " (e.g. hp_optim/config_templates_ppo.json)"
        )
    path = Path(value).expanduser()
    if path.is_absolute():
        candidates = [path]
    else:
        candidates = [(cwd or Path.cwd()) / path, PROJECT_DIR / path]
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    tried = " and ".join(str(c) for c in candidates)
    raise ParameterError(f"parameter 'config.config_templates': no file {value!r} (tried {tried})")


def _read_json(path: Path, what: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError as e:
        raise ParameterError(f"{what}: file {path} does not exist") from e
    except json.JSONDecodeError as e:
        raise ParameterError(f"{what}: {path} is not valid JSON: {e}") from e


def load_templates(mapping_path: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Read the role -> template mapping and every template: ``{role: (path, dict)}``."""
    mapping_path = Path(mapping_path)
    mapping = _read_json(mapping_path, "config templates")
    if not isinstance(mapping, dict):
        raise ParameterError(f"{mapping_path}: expected a JSON object mapping roles to files")
    unknown = sorted(set(mapping) - set(ROLES))
    missing = [role for role in ROLES if role not in mapping]
    if unknown or missing:
        raise ParameterError(
            f"{mapping_path}: unknown roles {unknown}, missing roles {missing};"
            f" valid roles: {', '.join(ROLES)}"
        )
    templates = {}
    for role in ROLES:
        file_name = mapping[role]
        if not isinstance(file_name, str):
            raise ParameterError(f"{mapping_path}: {role}: expected a file path string")
        path = (mapping_path.parent / file_name).resolve()
        content = _read_json(path, f"{mapping_path}: {role}")
        if not isinstance(content, dict):
            raise ParameterError(f"{path}: expected a JSON object")
        templates[role] = (path, content)
    return templates


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def _type_error(template_value: Any, value: Any) -> str | None:
    """Why ``value`` cannot replace ``template_value``, or None if it can."""
    if template_value is None:
        return None
    want, got = _type_name(template_value), _type_name(value)
    if want == got and want != "list":
        return None
    if want == "float" and got == "int":
        return None
    if want == "list" and got == "list":
        if len(value) != len(template_value):
            return f"a list of {len(template_value)} items like the template, got {len(value)}"
        for index, (old, new) in enumerate(zip(template_value, value, strict=True)):
            reason = _type_error(old, new)
            if reason:
                return f"item {index}: {reason}"
        return None
    return f"{want} like the template value {template_value!r}, got {got} {value!r}"


_JSON_KINDS = {"null": "null", "bool": "boolean", "int": "integer", "float": "number",
               "str": "string", "list": "list", "dict": "object"}


def _sb3_accepts(algorithm: Any, key: str, value: Any) -> bool:
    """Whether stable-baselines3's own signature takes ``value`` for rl_config ``key``.

    Some arguments take several types (SAC's ``ent_coef``: "auto" or a number); the
    learner's schema (learning.configs.rl_schema) says which.  Imported only when the
    template's type does not match, since it imports stable-baselines3.
    """
    try:
        from learning.configs import rl_schema

        kinds = rl_schema(algorithm).get(key, set())
    except (ImportError, KeyError):
        return False
    return _JSON_KINDS.get(_type_name(value)) in kinds


def _valid_keys(node: dict[str, Any]) -> str:
    keys = sorted(node)
    text = ", ".join(keys[:40])
    return text + (", ..." if len(keys) > 40 else "")


def apply_overrides(
    templates: Mapping[str, tuple[Path, dict[str, Any]]], overrides: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Return ``{role: merged dict}``; templates are not modified."""
    merged = {role: copy.deepcopy(content) for role, (_, content) in templates.items()}
    for address, value in overrides.items():
        name = f"config.{address}"
        if type(value).__module__ == "numpy" and hasattr(value, "item"):
            value = value.item()  # a numpy scalar from a cluster_utils distribution
        parts = parse_address(address)
        role = parts[0]
        if role not in templates:
            raise ParameterError(
                f"parameter '{name}': unknown role '{role}'; valid roles:"
                f" {', '.join(ROLES)}, and {TEMPLATES_KEY}"
            )
        template_file = templates[role][0]
        if len(parts) < 2:
            raise ParameterError(
                f"parameter '{name}': name a key of {role} ({template_file}), e.g."
                f" config.{role}.<key>; valid keys: {_valid_keys(merged[role])}"
            )
        if parts[1] in JOB_MANAGED_KEYS.get(role, ()):
            raise ParameterError(
                f"parameter '{name}': {role}.{parts[1]} is set by the job for every run"
                " (run directories); it cannot be a parameter"
            )
        node: Any = merged[role]
        where = role
        for depth, part in enumerate(parts[1:], start=1):
            last = depth == len(parts) - 1
            if isinstance(part, str):
                if not isinstance(node, dict):
                    raise ParameterError(
                        f"parameter '{name}': {where} in {template_file} is a"
                        f" {_type_name(node)}, not a dict; it has no key '{part}'"
                    )
                if part not in node:
                    raise ParameterError(
                        f"parameter '{name}': unknown key '{part}' in {where} of"
                        f" {template_file}; valid keys: {_valid_keys(node)}"
                    )
            else:
                if not isinstance(node, list):
                    raise ParameterError(
                        f"parameter '{name}': index :{part} on {where} in {template_file},"
                        f" which is a {_type_name(node)}, not a list"
                    )
                if part >= len(node):
                    raise ParameterError(
                        f"parameter '{name}': index :{part} out of range for {where} in"
                        f" {template_file} (a list of {len(node)} items; valid:"
                        f" 0..{len(node) - 1})"
                    )
            child_where = f"{where}.{part}" if isinstance(part, str) else f"{where}:{part}"
            if last:
                reason = _type_error(node[part], value)
                if reason and depth == 1 and role == "rl_config":
                    algorithm = merged["rl_common_config"].get("algorithm")
                    if _sb3_accepts(algorithm, str(part), value):
                        reason = None
                if reason:
                    raise ParameterError(
                        f"parameter '{name}': wrong type for {child_where} in"
                        f" {template_file}: expected {reason}"
                    )
                node[part] = json.loads(json.dumps(value))  # tuples -> lists, a fresh copy
            else:
                node = node[part]
                where = child_where
    return merged
