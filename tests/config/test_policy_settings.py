"""rl_config's policy_kwargs, num_layers/num_hidden and normalize: defaults filled in,
the object forms, every error naming the dotted key, and their addressing from a sweep."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from learning.config import (
    ConfigError,
    ParameterError,
    load_configs,
    merge_and_validate,
    read_role_files,
)
from learning.config.policy import NORMALIZE_ON, normalize_off

REPO = Path(__file__).resolve().parents[2]


def with_rl(config_dir: Path, change, file: str = "ppo_default.json") -> None:
    path = config_dir / file
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def rl_error(config_dir: Path, change, main: str = "config.json",
             file: str = "ppo_default.json") -> ConfigError:
    with_rl(config_dir, change, file)
    with pytest.raises(ConfigError) as info:
        load_configs(config_dir / main)
    assert info.value.file.endswith(file)
    return info.value


def test_configs_without_the_new_keys_get_the_defaults(config_dir):
    with_rl(config_dir, lambda d: (d.pop("policy_kwargs"), d.pop("normalize")))
    rl = load_configs(config_dir / "config.json").rl
    assert rl["policy_kwargs"] == {"net_arch": {"pi": None, "vf": None},
                                   "activation_fn": "tanh", "log_std_init": 0.0,
                                   "ortho_init": True}
    assert rl["normalize"] == normalize_off()


def test_validation_writes_the_object_forms_and_is_idempotent(config_dir):
    def change(d):
        d["normalize"] = True
        d["policy_kwargs"] = {"net_arch": [32, 32], "activation_fn": "nn.ReLU"}
        d.pop("num_layers")
        d.pop("num_hidden")

    with_rl(config_dir, change)
    config = load_configs(config_dir / "config.json")
    assert config.rl["normalize"] == NORMALIZE_ON
    assert config.rl["policy_kwargs"]["net_arch"] == {"pi": [32, 32], "vf": [32, 32]}
    assert config.rl["policy_kwargs"]["activation_fn"] == "relu"
    assert (config.rl["num_layers"], config.rl["num_hidden"]) == (None, None)
    (config_dir / "ppo_default.json").write_text(json.dumps(config.rl))
    assert load_configs(config_dir / "config.json").rl == config.rl


def test_partial_normalize_object_takes_vecnormalize_defaults(config_dir):
    with_rl(config_dir, lambda d: d.update(normalize={"norm_reward": False, "clip_obs": 5}))
    normalize = load_configs(config_dir / "config.json").rl["normalize"]
    assert normalize == {"norm_obs": True, "norm_reward": False, "clip_obs": 5,
                         "clip_reward": 10.0}


def test_num_layers_and_num_hidden_size_the_null_entries(config_dir):
    with_rl(config_dir, lambda d: d["policy_kwargs"]["net_arch"].update(vf=[128, 128, 128]))
    config = load_configs(config_dir / "config.json")
    assert config.policy_kwargs()["net_arch"] == {"pi": [64, 64], "vf": [128, 128, 128]}


@pytest.mark.parametrize("change, key, problem, valid", [
    (lambda d: d.update(normalize="yes"), "normalize", "is a string", "true or false or an"),
    (lambda d: d.update(normalize={"norm_ob": True}), "normalize.norm_ob",
     "did you mean 'norm_obs'", "norm_obs, norm_reward"),
    (lambda d: d.update(normalize={"norm_obs": 1}), "normalize.norm_obs", "is a integer",
     "true or false"),
    (lambda d: d.update(normalize={"clip_obs": 0}), "normalize.clip_obs", "out of range",
     "(0, inf)"),
    (lambda d: d["policy_kwargs"].update(activation_fn="swish"), "policy_kwargs.activation_fn",
     "'swish'", "tanh, relu, elu"),
    (lambda d: d["policy_kwargs"].update(log_std_init="low"), "policy_kwargs.log_std_init",
     "is a string", "a number"),
    (lambda d: d["policy_kwargs"].update(ortho_init=0), "policy_kwargs.ortho_init",
     "is a integer", "true or false"),
    (lambda d: d["policy_kwargs"].update(optimizer_class="Adam"),
     "policy_kwargs.optimizer_class", "unknown key", "net_arch, activation_fn"),
    (lambda d: d["policy_kwargs"]["net_arch"].update(pi=[64, 0]), "policy_kwargs.net_arch.pi:1",
     "out of range", "[1, inf)"),
    (lambda d: d["policy_kwargs"]["net_arch"].update(pi=64), "policy_kwargs.net_arch.pi",
     "is a integer", "a list of layer sizes"),
    (lambda d: d["policy_kwargs"].update(net_arch="big"), "policy_kwargs.net_arch",
     "is a string", '{"pi": [sizes] | null, "vf"'),
    (lambda d: d["policy_kwargs"]["net_arch"].update(qf=[64]), "policy_kwargs.net_arch.qf",
     "a SAC setting; algorithm is 'ppo'", "pi, vf"),
    (lambda d: d.update(num_hidden=None), "num_hidden", "is null or missing while num_layers",
     "both num_layers and num_hidden"),
    (lambda d: d.update(num_layers=None, num_hidden=None), "policy_kwargs.net_arch.pi",
     "is null and num_layers/num_hidden are not given", "a list of layer sizes"),
    (lambda d: d["policy_kwargs"].update(net_arch=[256, 256]), "num_layers",
     "contradict policy_kwargs.net_arch", "null (or left out)"),
])
def test_errors_name_the_dotted_key(config_dir, change, key, problem, valid):
    error = rl_error(config_dir, change)
    assert error.key == key
    assert problem in error.problem and valid in error.valid


def test_sac_has_q_networks_and_no_ortho_init(config_dir):
    error = rl_error(config_dir, lambda d: d["policy_kwargs"].update(ortho_init=False),
                     "config_sac.json", "sac_default.json")
    assert error.key == "policy_kwargs.ortho_init" and "a PPO setting" in error.problem
    shutil.copy(REPO / "config" / "sac_default.json", config_dir / "sac_default.json")
    with_rl(config_dir, lambda d: d["policy_kwargs"].update(net_arch={"qf": [400, 300]}),
            "sac_default.json")
    config = load_configs(config_dir / "config_sac.json")
    assert config.policy_kwargs()["net_arch"] == {"pi": [64, 64], "qf": [400, 300]}


def test_zoo_template_loads(config_dir):
    from torch import nn

    config = load_configs(config_dir / "config_ppo_zoo.json")
    assert config.policy_kwargs() == {"net_arch": {"pi": [256, 256], "vf": [256, 256]},
                                      "activation_fn": nn.ReLU, "log_std_init": -2.0,
                                      "ortho_init": False}
    assert config.rl["normalize"]["norm_obs"] and config.rl["normalize"]["norm_reward"]


@pytest.mark.parametrize("templates, overrides, check", [
    ("config_templates_ppo.json", {
        "rl_config.policy_kwargs.activation_fn": "relu",
        "rl_config.policy_kwargs.log_std_init": -1,
        "rl_config.policy_kwargs.ortho_init": False,
        "rl_config.policy_kwargs.net_arch.vf": [256, 256],
        "rl_config.normalize.norm_obs": True,
        "rl_config.normalize.clip_reward": 5.0,
    }, lambda rl: rl["policy_kwargs"] == {"net_arch": {"pi": None, "vf": [256, 256]},
                                          "activation_fn": "relu", "log_std_init": -1,
                                          "ortho_init": False}
        and rl["normalize"]["norm_obs"] and rl["normalize"]["clip_reward"] == 5.0),
    ("config_templates_ppo.json", {"rl_config.normalize": True},
     lambda rl: rl["normalize"] == NORMALIZE_ON),
    ("config_templates_ppo.json", {
        "rl_config.policy_kwargs.net_arch.pi": [32], "rl_config.policy_kwargs.net_arch.vf": [32],
        "rl_config.num_layers": None, "rl_config.num_hidden": None,
    }, lambda rl: rl["num_layers"] is None and rl["policy_kwargs"]["net_arch"]["pi"] == [32]),
    # a layer list of the template may change its length, and its items are addressable
    ("config_templates_ppo_zoo.json", {
        "rl_config.policy_kwargs.net_arch.pi": [64, 64, 64],
        "rl_config.policy_kwargs.net_arch.vf:1": 128,
    }, lambda rl: rl["policy_kwargs"]["net_arch"] == {"pi": [64, 64, 64], "vf": [256, 128]}),
])
def test_sweeps_address_the_new_keys(templates, overrides, check):
    read = read_role_files(REPO / "hp_optim" / templates)
    rl = merge_and_validate(read, overrides, check_load_path=False)["rl_config"]
    assert check(rl)


def test_contradicting_sweep_parameter_is_named():
    read = read_role_files(REPO / "hp_optim" / "config_templates_ppo_zoo.json")
    with pytest.raises(ParameterError, match=r"unknown key 'num_hidden' in rl_config"):
        merge_and_validate(read, {"rl_config.num_hidden": 128}, check_load_path=False)
    with pytest.raises(ParameterError, match=r"'config.rl_config.policy_kwargs.net_arch.vf:1'"
                                             r": policy_kwargs.net_arch.vf:1: 0 is out of range"):
        merge_and_validate(read, {"rl_config.policy_kwargs.net_arch.vf:1": 0},
                           check_load_path=False)


def test_aim_config_loads_and_differs_from_the_defaults_only_where_documented(config_dir):
    """config/config_aim.json (docs/aiming.md): the RL settings the aiming sweep found
    and the robot moved to x = 0; every other setting is the defaults'."""
    aim = load_configs(config_dir / "config_aim.json")
    default = load_configs(config_dir / "config.json")
    assert aim.hysr["robot_position"] == [0.0, *default.hysr["robot_position"][1:]]
    assert {k: v for k, v in aim.hysr.items() if k != "robot_position"} == {
        k: v for k, v in default.hysr.items() if k != "robot_position"}
    assert aim.reward == default.reward and aim.pam == default.pam
    changed = {k for k in aim.rl if aim.rl[k] != default.rl[k]}
    assert changed == {"learning_rate", "n_steps", "batch_size", "n_envs", "normalize",
                       "num_timesteps"}
    assert aim.rl["normalize"]["norm_obs"] and not aim.rl["normalize"]["norm_reward"]
