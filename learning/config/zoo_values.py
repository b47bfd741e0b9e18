"""The Python-expression strings of rl-baselines3-zoo's hyperparameter files, read as data
and never evaluated, and the two settings they hold converted to rl_config's forms:

- ``policy_kwargs: "dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU,
  net_arch=dict(pi=[256, 256], vf=[256, 256]))"`` -> ``{"log_std_init": -2, "ortho_init":
  false, "activation_fn": "relu", "net_arch": {"pi": [256, 256], "vf": [256, 256]}}``
  (learning/config/policy.py; the older ``net_arch=[dict(pi=..., vf=...)]`` too);
- ``normalize: "{'norm_obs': True, 'norm_reward': False}"`` (or ``dict(...)``, ``true``) ->
  VecNormalize's ``norm_obs``, ``norm_reward``, ``clip_obs``, ``clip_reward``.

A string may hold only :data:`ACCEPTED`; anything else (a name, an attribute other than
``nn.<activation>``, a call other than ``dict(...)``, a lambda, an operator) raises
:class:`ZooValueError`, as does a key the conversion does not know.
"""

from __future__ import annotations

import ast
import math
from typing import Any

from learning.config.policy import ACTIVATIONS, NETWORKS, NORMALIZE_SCHEMA, POLICY_DEFAULTS

#: ``nn.<class>`` -> this suite's activation name (``nn.ReLU`` -> ``relu``)
ACTIVATION_NAMES = {f"nn.{torch_name}": name for name, torch_name in ACTIVATIONS.items()}
ACCEPTED = ("dict(...) with keyword arguments, {...} with string keys, [...], (...), numbers,"
            " strings, True, False, None, " + ", ".join(ACTIVATION_NAMES))
#: the policy_kwargs this suite takes, per algorithm
POLICY_KWARGS = {algorithm: ("net_arch", *defaults) for algorithm, defaults in
                 POLICY_DEFAULTS.items()}


class ZooValueError(ValueError):
    """A value that cannot be converted: ``key`` (below the YAML key, e.g. ``.net_arch``;
    empty for the value itself), what is wrong and what is valid."""

    def __init__(self, key: str, problem: str, valid: str = ""):
        super().__init__(problem)
        self.key, self.problem, self.valid = key, problem, valid


def parse_python_data(text: str) -> Any:
    """The value a Python-expression string of data stands for (see :data:`ACCEPTED`)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as e:  # ValueError: a null byte
        why = e.msg if isinstance(e, SyntaxError) else str(e)
        raise ZooValueError("", f"{_shown(text.strip())!r} is not a Python expression ({why})",
                            ACCEPTED) from e
    return _data(tree.body)


def _shown(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _data(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, float) \
            and not math.isfinite(node.value):
        raise ZooValueError("", f"{node.value} is not a finite number", ACCEPTED)
    if isinstance(node, ast.Constant) and (node.value is None or isinstance(
            node.value, (bool, int, float, str))):
        return node.value
    if (isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd))
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)):
        value = _data(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_data(item) for item in node.elts]
    if isinstance(node, ast.Dict) and all(
            isinstance(key, ast.Constant) and isinstance(key.value, str) for key in node.keys):
        return {key.value: _data(value) for key, value in zip(node.keys, node.values, strict=True)}
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id == "dict" and not node.args
            and all(keyword.arg for keyword in node.keywords)):
        return {keyword.arg: _data(keyword.value) for keyword in node.keywords}
    if isinstance(node, ast.Attribute) and ast.unparse(node) in ACTIVATION_NAMES:
        return ACTIVATION_NAMES[ast.unparse(node)]
    raise ZooValueError("", f"{_shown(ast.unparse(node))!r} is not data ({_kind(node)}): it is"
                        " never evaluated", ACCEPTED)


def _kind(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return "a call"
    if isinstance(node, ast.Attribute):
        return "an attribute"
    if isinstance(node, ast.Name):
        return "a name"
    if isinstance(node, ast.Lambda):
        return "a lambda"
    return f"a Python {type(node).__name__} expression"


def _object(value: Any, what: str) -> dict[str, Any]:
    """A YAML mapping as it is, a Python-expression string as the data it holds; it must
    be a dict."""
    data = parse_python_data(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise ZooValueError("", f"is {data!r}", f"{what} (a mapping or a string such as"
                            " \"dict(key=value, ...)\")")
    return data


def _check_known(data: dict[str, Any], known: tuple[str, ...], prefix: str = "") -> None:
    for key in data:
        if key not in known:
            raise ZooValueError(f"{prefix}.{key}", "not supported by this suite",
                                ", ".join(known))


def policy_kwargs_of(value: Any, algorithm: str) -> dict[str, Any]:
    """rl_config.policy_kwargs from the zoo's: the keys this suite takes, net_arch as a
    list (every network) or per network, the activation by name."""
    data = _object(value, "policy_kwargs")
    _check_known(data, POLICY_KWARGS[algorithm])
    networks = NETWORKS[algorithm]
    forms = "[sizes] or dict(" + ", ".join(f"{network}=[sizes]" for network in networks) + ")"
    net_arch = data.get("net_arch")
    # SB3 < 1.8's form: [dict(pi=[...], vf=[...])] (no shared layers in front)
    if isinstance(net_arch, list) and len(net_arch) == 1 and isinstance(net_arch[0], dict):
        data["net_arch"] = net_arch = net_arch[0]
    if isinstance(net_arch, list) and not all(isinstance(size, int) for size in net_arch):
        raise ZooValueError(".net_arch", f"is {net_arch!r}: layers shared by the networks"
                            " are not supported", forms)
    if isinstance(net_arch, dict):
        _check_known(net_arch, networks, ".net_arch")
        missing = [network for network in networks if network not in net_arch]
        if missing:  # PPO would build it without hidden layers, SAC fail
            raise ZooValueError(".net_arch", f"gives no {missing[0]}", forms)
    return data


def vecnormalize_arguments(value: Any) -> dict[str, Any]:
    """VecNormalize's arguments from a mapping or a string of one (the zoo's ``normalize``
    string, ``normalize_kwargs``): those of :data:`NORMALIZE_SCHEMA`."""
    data = _object(value, "VecNormalize's arguments: " + ", ".join(NORMALIZE_SCHEMA))
    _check_known(data, tuple(NORMALIZE_SCHEMA))
    return data


def normalize_of(value: Any) -> bool | dict[str, Any]:
    """rl_config.normalize from the zoo's: true, false, or VecNormalize's arguments."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, (str, dict)):
        raise ZooValueError("", f"is {value!r}", "true, false, or VecNormalize's arguments ("
                            + ", ".join(NORMALIZE_SCHEMA) + ") as a mapping or a string")
    return vecnormalize_arguments(value)
