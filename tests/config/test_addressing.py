"""Parameter addressing: nested keys, multi-digit list indices, and every error case."""

import json
from pathlib import Path

import pytest

from learning.config import (
    ConfigError,
    ParameterError,
    apply_overrides,
    collect_overrides,
    merge_and_validate,
    parse_address,
    read_role_files,
)
from learning.job.settings import resolve_templates_path
from learning.plugins.envs import env_plugin

#: the roles of the default env's config.json: the table tennis's own, then the common ones
ROLES = env_plugin().config_roles

REPO = Path(__file__).resolve().parents[2]

HYSR = {
    "robot_position": [0.1, 0.2, 0.3],
    "world_boundaries": {"min": [0.0, -1.0, 0.0], "max": [2.0, 1.0, 2.0]},
    "starting_pressures": [[1000, 2000], [3000, 4000]],
    "long_list": list(range(15)),
    "nb_steps_per_episode": 100,
    "mujoco_time_step": 0.002,
}


@pytest.fixture
def templates(tmp_path):
    folder = tmp_path / "templates"
    folder.mkdir()
    contents = {
        "reward_config": {"normalization_constant": 3.0, "rtt_cap": 0.2, "smash": False},
        "hysr_config": HYSR,
        "pam_config": {"max_pressure": 20000},
        "rl_config": {"learning_rate": 0.0003, "n_steps": 32, "num_timesteps": 64,
                      "log_path": "logs", "save_path": "m.zip", "load_path": "",
                      "ent_coef": "auto"},
        "rl_common_config": {"algorithm": "ppo", "random_seed": None},
    }
    for role, content in contents.items():
        (folder / f"{role}.json").write_text(json.dumps(content))
    mapping = tmp_path / "hp" / "templates.json"
    mapping.parent.mkdir()
    mapping.write_text(json.dumps({role: f"../templates/{role}.json" for role in ROLES}))
    return read_role_files(mapping)


def merge(templates, **overrides):
    return apply_overrides(templates, {k.replace("__", "."): v for k, v in overrides.items()})


def test_parse_address_multi_digit_indices():
    assert parse_address("hysr_config.robot_position:0") == ["hysr_config", "robot_position", 0]
    assert parse_address("hysr_config.long_list:12") == ["hysr_config", "long_list", 12]
    assert parse_address("hysr_config.a.b:1:0") == ["hysr_config", "a", "b", 1, 0]


@pytest.mark.parametrize("bad", ["hysr_config.robot_position:", "hysr_config.:1",
                                 "hysr_config.x:a", "hysr_config..x", "hysr_config.x y"])
def test_parse_address_rejects_malformed(bad):
    with pytest.raises(ParameterError, match="not a valid key"):
        parse_address(bad)


def test_relative_template_paths_resolve_against_mapping_file(templates):
    path, content = templates["hysr_config"]
    assert path.name == "hysr_config.json" and path.parent.name == "templates"
    assert content["robot_position"] == [0.1, 0.2, 0.3]


def test_list_items_and_nested_keys(templates):
    merged = apply_overrides(templates, {
        "hysr_config.robot_position:0": 0.5,
        "hysr_config.robot_position:2": 1,  # int accepted for float
        "hysr_config.long_list:12": 99,
        "hysr_config.world_boundaries.min:2": 0.25,
        "hysr_config.starting_pressures:1:0": 3500,
        "rl_config.learning_rate": 0.01,
    })
    hysr = merged["hysr_config"]
    assert hysr["robot_position"] == [0.5, 0.2, 1]
    # :12 is item 12, not item 2; no 'long_list:12' key appears
    assert hysr["long_list"][12] == 99 and hysr["long_list"][2] == 2
    assert hysr["world_boundaries"]["min"] == [0.0, -1.0, 0.25]
    assert hysr["starting_pressures"] == [[1000, 2000], [3500, 4000]]
    assert set(hysr) == set(HYSR)  # never a silently added key
    assert merged["rl_config"]["learning_rate"] == 0.01
    assert templates["hysr_config"][1]["robot_position"] == [0.1, 0.2, 0.3]  # untouched


def test_whole_list_and_null_template(templates):
    merged = apply_overrides(templates, {
        "hysr_config.robot_position": (0.4, 0.5, 0.6),  # cluster_utils hands out tuples
        "rl_common_config.random_seed": 7,
    })
    assert merged["hysr_config"]["robot_position"] == [0.4, 0.5, 0.6]
    assert merged["rl_common_config"]["random_seed"] == 7


@pytest.mark.parametrize("address, value, pattern", [
    ("nope_config.x", 1, r"unknown role 'nope_config'; valid roles: reward_config, hysr"),
    ("hysr_config.robot_positon:0", 1.0, r"unknown key 'robot_positon' in hysr_config of"
     r" .*hysr_config.json; valid keys: .*robot_position"),
    ("hysr_config.world_boundaries.mid", [1], r"unknown key 'mid' in hysr_config.world_bo"
     r"undaries .*valid keys: max, min"),
    ("hysr_config.nb_steps_per_episode:0", 1, r"index :0 on hysr_config.nb_steps_per_episode"
     r" .* which is integer, not a list"),
    ("hysr_config.robot_position:3", 1.0, r"index :3 out of range .*valid: 0..2"),
    ("hysr_config.long_list:123", 1, r"index :123 out of range .*15 items; valid: 0..14"),
    ("hysr_config.robot_position:0.x", 1.0, r"hysr_config.robot_position:0 .* is number, not an"
     r" object"),
    ("hysr_config.nb_steps_per_episode", 1.5, r"wrong type for hysr_config.nb_steps_per_episod"
     r"e in .*hysr_config.json: expected integer like the template value 100, got number 1.5"),
    ("reward_config.smash", 1, r"expected boolean .* got integer"),
    ("rl_config.n_steps", "64", r"expected integer like the template value 32, got string '64'"),
    ("hysr_config.robot_position", [1.0, 2.0], r"expected a list of 3 items"),
    ("hysr_config.robot_position", [1.0, "a", 2.0], r"item 1: number like"),
    ("rl_config.log_path", "elsewhere", r"set by the job"),
    ("hysr_config", 1, r"name a key of hysr_config"),
])
def test_errors_name_parameter_file_and_valid_choices(templates, address, value, pattern):
    with pytest.raises(ParameterError, match=pattern) as info:
        apply_overrides(templates, {address: value})
    assert f"config.{address}" in str(info.value)


def test_sb3_argument_with_several_types(templates):
    """SAC's ent_coef is "auto" in the template but also takes a number (SB3 signature)."""
    templates["rl_common_config"][1]["algorithm"] = "sac"
    merged = apply_overrides(templates, {"rl_config.ent_coef": 0.1})
    assert merged["rl_config"]["ent_coef"] == 0.1
    with pytest.raises(ParameterError, match="expected string like the template value 'auto'"):
        apply_overrides(templates, {"rl_config.ent_coef": [0.1]})


def test_collect_nested_dotted_and_templates_key():
    settings = {
        "config": {
            "config_templates": "hp_optim/x.json",
            "hysr_config": {"robot_position:0": 0.3, "world_boundaries": {"min:2": 0.1}},
            "rl_config.learning_rate": 0.001,
        },
        "config.rl_config.n_steps": 64,
        "learning_runs_per_job": 2,
    }
    templates, overrides = collect_overrides(settings)
    assert templates == "hp_optim/x.json"
    assert overrides == {
        "hysr_config.robot_position:0": 0.3,
        "hysr_config.world_boundaries.min:2": 0.1,
        "rl_config.learning_rate": 0.001,
        "rl_config.n_steps": 64,
    }


def test_collect_rejects_duplicates():
    with pytest.raises(ParameterError, match="given twice"):
        collect_overrides({"config": {"rl_config": {"n_steps": 1}},
                           "config.rl_config.n_steps": 2})


def test_templates_mapping_errors(tmp_path):
    """A templates file is read like config.json: errors name the file and the key."""
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"reward_config": "r.json", "extra": "e.json"}))
    with pytest.raises(ConfigError, match=r"m.json: extra: unknown key; valid: reward_config"):
        read_role_files(mapping)
    mapping.write_text(json.dumps({role: f"{role}.json" for role in ROLES}))
    with pytest.raises(ConfigError, match=r"m.json: reward_config: file not found: .*reward_c"):
        read_role_files(mapping)
    mapping.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        read_role_files(mapping)


def test_out_of_range_parameter_is_named_by_the_config_checks():
    """merge_and_validate runs the learner's checks: an overridden value out of range is
    named by its parameter, before any training (a job and the sweep's pre-flight)."""
    templates = read_role_files(REPO / "hp_optim" / "config_templates_ppo.json")
    for address, value, pattern in [
        ("rl_config.num_timesteps", 0, r"parameter 'config.rl_config.num_timesteps': "
         r"num_timesteps: 0 is out of range; valid: an integer >= 1"),
        ("rl_config.num_timesteps", -3, r"num_timesteps: -3 is out of range"),
        ("hysr_config.ball_launch_position_max:1", 9.0, r"ball_launch_position_max:1: 9.0 "
         r"lies outside world_boundaries"),
        ("pam_config.torque_per_bar_ago:2", -1.0, r"torque_per_bar_ago:2: -1.0 is out of"),
        ("rl_config.gamma", 1.5, r"parameter 'config.rl_config.gamma'"),
        # about the template's batch_size (64), caused by the parameter: the parameter named
        ("rl_config.n_steps", 1000, r"parameter 'config.rl_config.n_steps': batch_size: 64 "
         r"does not divide the rollout of n_steps \* n_envs = 1000 steps"),
    ]:
        with pytest.raises(ParameterError, match=pattern):
            merge_and_validate(templates, {address: value}, check_load_path=False)
    merged = merge_and_validate(templates, {"rl_config.num_timesteps": 5})
    assert merged["rl_config"]["num_timesteps"] == 5


def test_resolve_templates_path(tmp_path):
    (tmp_path / "t.json").write_text("{}")
    assert resolve_templates_path("t.json", cwd=tmp_path) == (tmp_path / "t.json").resolve()
    with pytest.raises(ParameterError, match=r"config.config_templates': no file 'x.json'"):
        resolve_templates_path("x.json", cwd=tmp_path)
    with pytest.raises(ParameterError, match="config.config_templates' is required"):
        resolve_templates_path(None)


SHIPPED = ["ppo.json", "ppo_local.json", "sac.json", "grid_search.json"]


def _cluster_utils_settings(name):
    """Job settings as cluster_utils builds them from a shipped hp_optim file (its own
    parser, CLI override, distributions / grid, and merge with fixed_params)."""
    import argparse
    import copy

    from cluster_utils.hp_optimization import get_distribution
    from cluster_utils.server.settings import read_main_script_params_from_args
    from cluster_utils.server.utils import (
        distribution_list_sampler,
        hyperparam_dict_product,
        process_other_params,
        update_recursive,
    )

    args = argparse.Namespace(settings_file=REPO / "hp_optim" / name,
                              settings=['optimization_procedure_name="lttfs_2026-11-21"'])
    params = read_main_script_params_from_args(args)
    assert params.optimization_procedure_name == "lttfs_2026-11-21"
    if "optimized_params" in params:
        distributions = [get_distribution(**item) for item in params.optimized_params]
        # like the optimizer's ask(): one sample per call
        samples = [next(distribution_list_sampler(distributions, 1)) for _ in range(20)]
    else:
        distributions = None
        grid = {item["param"]: list(item["values"]) for item in params.hyperparam_list}
        samples = list(hyperparam_dict_product(grid))
    fixed = process_other_params(params.fixed_params, None, distributions)
    return [update_recursive(copy.deepcopy(sample), fixed) for sample in samples]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_hp_optim_configs_address_existing_keys(name):
    text = (REPO / "hp_optim" / name).read_text()
    assert "/home/" not in text and "/work/" not in text and "~" not in text
    for settings in _cluster_utils_settings(name):
        templates_value, overrides = collect_overrides(settings)
        assert overrides
        templates = read_role_files(resolve_templates_path(templates_value, cwd=REPO))
        merged = merge_and_validate(templates, overrides, check_load_path=False)
        assert set(merged) == set(ROLES)
