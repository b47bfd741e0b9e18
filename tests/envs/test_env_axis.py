"""Envs as a sweep axis: a grid over ``config.rl_common_config.env_id`` (the templates'
own env, the table tennis, and a gymnasium id). The job's real merge keeps the roles of
the env each job trains; the pre-flight refuses an optimizer over envs; a real tiny grid
through the launcher trains both envs. Nothing is mocked."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from tiny_sweep import tiny_envs_grid

from learning.config import ParameterError, merge_and_validate
from learning.config.loading import read_role_files
from learning.launch.sweep_file import read_sweep_file
from learning.preflight.checks import run_preflight

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "hp_optim" / "config_templates_ppo.json"
ENV = "rl_common_config.env_id"
ENVS_GRID = json.loads((REPO / "hp_optim" / "envs_grid.json").read_text())


def test_a_job_on_another_env_keeps_that_env_s_roles():
    templates = read_role_files(TEMPLATES)
    assert "hysr_config" in templates
    roles = merge_and_validate(templates, {ENV: "Pendulum-v1",
                                           "rl_config.learning_rate": 1e-3})
    assert list(roles) == ["rl_config", "rl_common_config"]
    assert roles["rl_common_config"]["env_id"] == "Pendulum-v1"
    assert roles["rl_config"]["learning_rate"] == 1e-3
    # the templates' own env keeps all its roles
    assert "hysr_config" in merge_and_validate(templates, {ENV: "learning/TableTennis-v0"})


def test_a_parameter_of_a_role_the_job_s_env_lacks_is_an_error():
    templates = read_role_files(TEMPLATES)
    with pytest.raises(ParameterError) as info:
        merge_and_validate(templates, {ENV: "Pendulum-v1", "hysr_config.robot_position:0": 0.1})
    message = str(info.value)
    assert message.startswith("parameter 'config.hysr_config.robot_position:0': hysr_config is"
                              " not a role of env 'Pendulum-v1'")
    assert "its roles: rl_config, rl_common_config" in message


def test_an_env_whose_roles_the_templates_lack_is_an_error(tmp_path):
    """Templates of a gymnasium env cannot choose the table tennis: its files are missing."""
    ppo = json.loads((REPO / "config" / "ppo_default.json").read_text())
    (tmp_path / "ppo.json").write_text(json.dumps(ppo))
    common = json.loads((REPO / "config" / "rl_common.json").read_text())
    (tmp_path / "rl_common.json").write_text(json.dumps(dict(common, env_id="Pendulum-v1")))
    main = tmp_path / "templates.json"
    main.write_text(json.dumps({"rl_config": "ppo.json", "rl_common_config": "rl_common.json"}))
    with pytest.raises(ParameterError) as info:
        merge_and_validate(read_role_files(main), {ENV: "learning/TableTennis-v0"})
    assert str(info.value).startswith(
        "parameter 'config.rl_common_config.env_id': env 'learning/TableTennis-v0' needs the"
        " role(s) reward_config, hysr_config, pam_config, which the templates do not map")


def test_an_unknown_env_on_the_axis_names_the_parameter():
    with pytest.raises(ParameterError) as info:
        merge_and_validate(read_role_files(TEMPLATES), {ENV: "Pendulum-v9"})
    assert str(info.value).startswith("parameter 'config.rl_common_config.env_id': env_id:"
                                      " 'Pendulum-v9': no env plug-in is registered")


def test_the_pre_flight_refuses_an_optimizer_over_envs(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    config = json.loads((REPO / "hp_optim" / "ppo_local.json").read_text())
    config["results_dir"] = str(tmp_path / "results")
    config["optimized_params"].append({"param": "config.rl_common_config.env_id",
                                       "distribution": "Discrete",
                                       "options": ["learning/TableTennis-v0", "Pendulum-v1"]})
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(config))
    problems = run_preflight(read_sweep_file(path, [])).problems
    assert any("'config.rl_common_config.env_id': optimizes over envs" in p
               and "a grid over envs (cluster_utils.grid_search" in p for p in problems), problems


def test_the_pre_flight_refuses_a_grid_value_of_an_env_with_a_role_parameter(tmp_path,
                                                                            monkeypatch):
    monkeypatch.chdir(REPO)
    config = copy.deepcopy(ENVS_GRID)
    config["results_dir"] = str(tmp_path / "results")
    config["hyperparam_list"].append({"param": "config.hysr_config.robot_position:0",
                                      "values": [0.0, 0.1]})
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps(config))
    problems = run_preflight(read_sweep_file(path, [])).problems
    assert problems and any("hysr_config is not a role of env 'Pendulum-v1'" in p
                            for p in problems), problems


@pytest.fixture(scope="module")
def envs_grid_results(tmp_path_factory) -> Path:
    return tiny_envs_grid(tmp_path_factory.mktemp("envs_grid"))


@pytest.mark.slow
def test_a_tiny_grid_over_envs_trains_both(envs_grid_results):
    import pandas as pd

    jobs = pd.read_csv(envs_grid_results / "all_data.csv", index_col=0)
    assert len(jobs) == 4 and jobs["mean_eval_reward"].notna().all()
    by_env = jobs.groupby("config.rl_common_config.env_id")
    assert sorted(by_env.groups) == ["Pendulum-v1", "learning/TableTennis-v0"]
    assert (by_env.size() == 2).all()
    pendulum = jobs[jobs["config.rl_common_config.env_id"] == "Pendulum-v1"]
    table_tennis = jobs[jobs["config.rl_common_config.env_id"] != "Pendulum-v1"]
    assert pendulum["mean_hit_rate"].isna().all() and table_tennis["mean_hit_rate"].notna().all()
    assert (pendulum["mean_eval_reward"] < -100).all()  # Pendulum's scale, not the table's
    for working_dir in jobs["working_dir"]:
        state = json.loads((Path(working_dir) / "job_state.json").read_text())
        env_id = state["runs"][0]["score"]["env_id"]
        configs = sorted(p.name for p in (Path(working_dir) / "run_0.0-0" / "config").iterdir())
        if env_id == "Pendulum-v1":
            assert configs == ["config.json", "rl_common_config.json", "rl_config.json"]
        else:
            assert "hysr_config.json" in configs
