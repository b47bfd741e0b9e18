"""rl_config's network and normalization settings: ``policy_kwargs``, ``num_layers`` /
``num_hidden`` and ``normalize``.

``policy_kwargs`` (an object; every key optional, validation fills stable-baselines3's own
default for the algorithm):

=================  =====================================================================
``net_arch``       hidden layer sizes per network: ``{"pi": [256, 256], "vf": [256, 256]}``
                   (PPO: actor ``pi``, critic ``vf``; SAC: actor ``pi``, Q-networks
                   ``qf``), or one list for all of them, or null. A network whose entry is
                   null gets ``num_layers`` layers of ``num_hidden`` units. Validation
                   writes the object form.
``activation_fn``  a name from :data:`ACTIVATIONS` (torch spellings such as ``nn.ReLU``
                   are accepted and written as ``relu``); PPO default tanh, SAC relu
``log_std_init``   initial log standard deviation of the actions (PPO 0.0; SAC -3.0,
                   used by SAC with use_sde only)
``ortho_init``     PPO only: orthogonal initialization of the networks (default true)
=================  =====================================================================

``num_layers`` / ``num_hidden``: both integers >= 1, or both null (or left out). They size
every network whose net_arch entry is null, so they are required when an entry is null,
and an error when net_arch gives every network (they would be silently ignored).

``normalize``: false (the default), true (observations and rewards), or an object with
VecNormalize's own arguments ``norm_obs`` and ``norm_reward`` (default true) and
``clip_obs`` and ``clip_reward`` (> 0, default 10.0). Validation writes the object form.
The reward statistics discount with rl_config's gamma.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from learning.config.checks import ConfigError, check_range, is_number, json_kind

#: net_arch entries per algorithm: the actor first, then the critic(s)
NETWORKS = {"ppo": ("pi", "vf"), "sac": ("pi", "qf")}
#: activation names -> torch.nn class names
ACTIVATIONS = {
    "tanh": "Tanh",
    "relu": "ReLU",
    "elu": "ELU",
    "leaky_relu": "LeakyReLU",
    "gelu": "GELU",
    "silu": "SiLU",
    "selu": "SELU",
    "mish": "Mish",
    "softplus": "Softplus",
    "sigmoid": "Sigmoid",
}
#: stable-baselines3's defaults of the policies (ActorCriticPolicy, SACPolicy)
POLICY_DEFAULTS: dict[str, dict[str, Any]] = {
    "ppo": {"activation_fn": "tanh", "log_std_init": 0.0, "ortho_init": True},
    "sac": {"activation_fn": "relu", "log_std_init": -3.0},
}
#: what ``normalize: true`` means (VecNormalize's defaults); ``false`` turns both off
NORMALIZE_ON = {"norm_obs": True, "norm_reward": True, "clip_obs": 10.0, "clip_reward": 10.0}
NORMALIZE_SCHEMA = {
    "norm_obs": "true or false",
    "norm_reward": "true or false",
    "clip_obs": "a number > 0",
    "clip_reward": "a number > 0",
}


def normalize_off() -> dict[str, Any]:
    return dict(NORMALIZE_ON, norm_obs=False, norm_reward=False)


def validate_normalize(value: Any, file: Path) -> dict[str, Any]:
    """The object form of rl_config.normalize (missing: off)."""
    if value is None or value is False:
        return normalize_off()
    if value is True:
        return dict(NORMALIZE_ON)
    if not isinstance(value, dict):
        raise ConfigError(file, "normalize", f"is a {json_kind(value)}",
                          "true, false or an object with " + ", ".join(NORMALIZE_SCHEMA))
    _check_known(value, NORMALIZE_SCHEMA, file, "normalize")
    out = dict(NORMALIZE_ON, **value)
    for key in ("norm_obs", "norm_reward"):
        if not isinstance(out[key], bool):
            raise ConfigError(file, f"normalize.{key}", f"is a {json_kind(out[key])}",
                              "true or false")
    for key in ("clip_obs", "clip_reward"):
        if not is_number(out[key]):
            raise ConfigError(file, f"normalize.{key}", f"is a {json_kind(out[key])}",
                              "a number > 0")
        check_range(out[key], file, f"normalize.{key}", low=0, low_open=True)
    return out


def activation_name(value: str) -> str | None:
    """The canonical name of an activation (``nn.ReLU`` -> ``relu``), None if unknown."""
    key = value.strip().lower().removeprefix("torch.").removeprefix("nn.").replace("_", "")
    return next((name for name in ACTIVATIONS if name.replace("_", "") == key), None)


def validate_policy_kwargs(value: Any, file: Path, algorithm: str) -> dict[str, Any]:
    """policy_kwargs with the defaults filled in and net_arch in its object form."""
    defaults = {"net_arch": None, **POLICY_DEFAULTS[algorithm]}
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(file, "policy_kwargs", f"is a {json_kind(value)}",
                          "an object with keys " + ", ".join(defaults))
    _check_known(value, defaults, file, "policy_kwargs", algorithm)
    out = dict(defaults, **value)
    out["net_arch"] = _validate_net_arch(out["net_arch"], file, algorithm)
    activation = out["activation_fn"]
    name = activation_name(activation) if isinstance(activation, str) else None
    if name is None:
        raise ConfigError(file, "policy_kwargs.activation_fn", f"is {activation!r}",
                          ", ".join(ACTIVATIONS))
    out["activation_fn"] = name
    if not is_number(out["log_std_init"]):
        raise ConfigError(file, "policy_kwargs.log_std_init",
                          f"is a {json_kind(out['log_std_init'])}", "a number")
    if "ortho_init" in out and not isinstance(out["ortho_init"], bool):
        raise ConfigError(file, "policy_kwargs.ortho_init",
                          f"is a {json_kind(out['ortho_init'])}", "true or false")
    return out


def _validate_net_arch(value: Any, file: Path, algorithm: str) -> dict[str, Any]:
    networks = NETWORKS[algorithm]
    valid = (f'{{"{networks[0]}": [sizes] | null, "{networks[1]}": [sizes] | null}}, one list'
             " of layer sizes for every network, or null")
    if value is None or isinstance(value, list):
        value = {network: value for network in networks}
    if not isinstance(value, dict):
        raise ConfigError(file, "policy_kwargs.net_arch", f"is a {json_kind(value)}", valid)
    _check_known(value, {network: None for network in networks}, file,
                 "policy_kwargs.net_arch", algorithm)
    out = {network: value.get(network) for network in networks}
    for network, sizes in out.items():
        key = f"policy_kwargs.net_arch.{network}"
        if sizes is None:
            continue
        if not isinstance(sizes, list):
            raise ConfigError(file, key, f"is a {json_kind(sizes)}",
                              "a list of layer sizes (integers >= 1) or null")
        for index, size in enumerate(sizes):
            if isinstance(size, bool) or not isinstance(size, int):
                raise ConfigError(file, f"{key}:{index}", f"is a {json_kind(size)}",
                                  "an integer >= 1")
            check_range(size, file, f"{key}:{index}", low=1)
    return out


def _check_known(value: dict, schema: dict, file: Path, where: str, algorithm: str = "") -> None:
    for key in value:
        if key not in schema:
            close = difflib.get_close_matches(key, list(schema), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            other = {"ortho_init": "ppo", "vf": "ppo", "qf": "sac"}.get(key)
            if other and algorithm and other != algorithm:
                hint = f" (a {other.upper()} setting; algorithm is {algorithm!r})"
            raise ConfigError(file, f"{where}.{key}", f"unknown key{hint}", ", ".join(schema))


def check_network_sizes(rl: dict[str, Any], file: Path, algorithm: str) -> None:
    """num_layers/num_hidden against policy_kwargs.net_arch (see the module docstring)."""
    layers, hidden = rl.get("num_layers"), rl.get("num_hidden")
    if (layers is None) != (hidden is None):
        given, other = ("num_layers", "num_hidden") if hidden is None else ("num_hidden",
                                                                            "num_layers")
        raise ConfigError(file, other, f"is null or missing while {given} is given",
                          "both num_layers and num_hidden integers >= 1, or both null")
    net_arch = rl["policy_kwargs"]["net_arch"]
    unsized = [network for network, sizes in net_arch.items() if sizes is None]
    if layers is None and unsized:
        raise ConfigError(
            file, f"policy_kwargs.net_arch.{unsized[0]}",
            "is null and num_layers/num_hidden are not given",
            "a list of layer sizes, or num_layers and num_hidden (integers >= 1) for the"
            " networks net_arch leaves null",
        )
    if layers is not None and not unsized:
        raise ConfigError(
            file, "num_layers",
            f"num_layers/num_hidden ({layers} x {hidden}) contradict policy_kwargs.net_arch,"
            f" which gives every network ({', '.join(net_arch)}): they would be ignored",
            "num_layers and num_hidden null (or left out) when net_arch gives every network,"
            " or a net_arch entry null to size it by num_layers x num_hidden",
        )


def network_sizes(rl: dict[str, Any]) -> dict[str, list[int]]:
    """The hidden layer sizes of every network of a validated rl_config."""
    return {
        network: list(sizes) if sizes is not None else [rl["num_hidden"]] * rl["num_layers"]
        for network, sizes in rl["policy_kwargs"]["net_arch"].items()
    }


def sb3_policy_kwargs(rl: dict[str, Any]) -> dict[str, Any]:
    """stable-baselines3's policy_kwargs of a validated rl_config (imports torch)."""
    from torch import nn

    settings = rl["policy_kwargs"]
    kwargs = {
        "net_arch": network_sizes(rl),
        "activation_fn": getattr(nn, ACTIVATIONS[settings["activation_fn"]]),
        "log_std_init": float(settings["log_std_init"]),
    }
    if "ortho_init" in settings:
        kwargs["ortho_init"] = settings["ortho_init"]
    return kwargs


def architecture_differences(
    stored: dict[str, Any], wanted: dict[str, Any], algorithm: str
) -> list[str]:
    """How the networks of a loaded model (its stored policy_kwargs) differ from ``wanted``
    (:func:`sb3_policy_kwargs`): layer sizes and activation. log_std_init and ortho_init
    only shape a new model's first parameters and are not compared."""
    from torch import nn

    differences = []
    stored_arch = stored.get("net_arch")
    if isinstance(stored_arch, list):  # SB3's list form: one size for every network
        stored_arch = {network: stored_arch for network in wanted["net_arch"]}
    if stored_arch != wanted["net_arch"]:
        differences.append(f"net_arch {wanted['net_arch']} (the model has {stored_arch})")
    default = getattr(nn, ACTIVATIONS[POLICY_DEFAULTS[algorithm]["activation_fn"]])
    stored_activation = stored.get("activation_fn", default)
    if stored_activation is not wanted["activation_fn"]:
        differences.append(f"activation_fn {wanted['activation_fn'].__name__} (the model has"
                           f" {getattr(stored_activation, '__name__', stored_activation)})")
    return differences
