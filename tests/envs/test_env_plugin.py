"""A second env added through the env interface alone (learning.plugins.envs): the test
helper module cartpole_plugin registers gymnasium's CartPole-v1 under its own id, no
module of the package edited. Its configs omit the table tennis's roles; the real learner
trains it (in a process of its own, which finds the plug-in through rl_common_config's
env_plugins) and a tiny real sweep optimizes it through the launcher."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from cartpole_plugin import ENV_ID, MODULE, PLUGIN

from learning.config import ConfigError, load_configs
from learning.config.sb3_limits import buffer_bytes
from learning.contract import COMMON_ROLES
from learning.job.metrics import JOB_METRICS, TRAINING_METRICS, job_metrics, metric_names
from learning.plugins.envs import DEFAULT_ENV_ID, env_plugin
from learning.records.job_state import Score

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
#: a PPO budget that trains in seconds
TINY_PPO = {"num_timesteps": 128, "n_steps": 32, "batch_size": 32, "n_epochs": 1,
            "verbose": 0}


def write_configs(folder: Path, rl: dict | None = None, **common) -> Path:
    """config.json for the CartPole plug-in in ``folder``: rl_config from the shipped PPO
    defaults with a tiny budget, rl_common_config choosing the env; no other roles."""
    folder.mkdir(parents=True, exist_ok=True)
    ppo = json.loads((REPO / "config" / "ppo_default.json").read_text())
    (folder / "ppo.json").write_text(json.dumps({**ppo, **TINY_PPO, **(rl or {})}))
    rl_common = json.loads((REPO / "config" / "rl_common.json").read_text())
    rl_common.update({"env_id": ENV_ID, "env_plugins": [MODULE], "env_kwargs": {},
                      "evaluation_episodes": 2, "random_seed": 0, **common})
    (folder / "rl_common.json").write_text(json.dumps(rl_common))
    main = folder / "config.json"
    main.write_text(json.dumps({"rl_config": "ppo.json", "rl_common_config": "rl_common.json"}))
    return main


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def plugin_env() -> dict[str, str]:
    """The environment of the processes the tests start: the plug-in's folder on PYTHONPATH."""
    paths = [str(HERE), str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths))


def config_error(main: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_configs(main)
    return info.value


def test_its_config_has_only_the_common_roles(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_configs(write_configs(tmp_path / "cfg"))
    assert tuple(config.roles) == COMMON_ROLES == PLUGIN.config_roles
    assert config.env is PLUGIN is env_plugin(ENV_ID)
    assert config.rl_common["env_kwargs"] == {} and config.env_roles() == {}
    # stable-baselines3's buffers, sized by the plug-in's spaces: 4 float32 observations,
    # one int64 action (Discrete), 6 float32 (PPO)
    _, _, size, each = buffer_bytes(config.rl, "ppo", PLUGIN.spaces({}))
    assert size == 32 * (4 * 4 + 8 + 6 * 4)
    assert "an observation of 4 float32, an action of 1 int64" in each
    env = config.make_env()
    assert env.observation_space.shape == (4,)
    env.close()


@pytest.mark.parametrize("role", ["reward_config", "hysr_config", "pam_config"])
def test_a_role_its_env_does_not_declare_is_an_error(tmp_path, role):
    main = write_configs(tmp_path)
    edit(main, lambda d: d.update({role: str(REPO / "config" / "reward.json")}))
    error = config_error(main)
    assert error.file == str(main) and error.key == role
    assert error.problem == (f"unknown key: a role of env {DEFAULT_ENV_ID!r}, not of"
                             f" {ENV_ID!r} (rl_common_config's env_id)")
    assert error.valid == "rl_config, rl_common_config"


def test_a_role_the_default_env_declares_is_still_required(tmp_path):
    main = write_configs(tmp_path)
    edit(tmp_path / "rl_common.json", lambda d: (d.pop("env_id"), d.pop("env_plugins")))
    error = config_error(main)  # the table tennis: its three roles are missing
    assert error.file == str(main) and error.key == "reward_config"
    assert error.problem == "missing key"


def test_an_unknown_env_id_names_the_file_and_the_registered_ids(tmp_path):
    main = write_configs(tmp_path, env_id="lttfs_tests/Nope-v0")
    error = config_error(main)
    assert error.file == str(tmp_path / "rl_common.json") and error.key == "env_id"
    assert "'lttfs_tests/Nope-v0': no env plug-in is registered" in error.problem
    assert repr(DEFAULT_ENV_ID) in error.valid and repr(ENV_ID) in error.valid


def test_a_plugin_module_that_cannot_be_imported_is_a_config_error(tmp_path):
    main = write_configs(tmp_path)
    edit(tmp_path / "rl_common.json", lambda d: d.update(env_plugins=[MODULE, "no_such_mod"]))
    error = config_error(main)
    assert error.key == "env_plugins:1" and "cannot import 'no_such_mod'" in error.problem
    edit(tmp_path / "rl_common.json", lambda d: d.update(env_plugins="cartpole_plugin"))
    assert config_error(main).key == "env_plugins"


def test_the_table_tennis_takes_no_env_kwargs(tmp_path, monkeypatch):
    import shutil

    monkeypatch.chdir(tmp_path)
    shutil.copytree(REPO / "config", tmp_path / "config")
    edit(tmp_path / "config" / "rl_common.json", lambda d: d.update(env_kwargs={"x": 1}))
    error = config_error(tmp_path / "config" / "config.json")
    assert error.key == "env_kwargs.x" and "takes no env_kwargs" in error.problem


def test_the_job_reports_the_env_metrics_its_plugin_declares():
    assert metric_names(PLUGIN) == (*TRAINING_METRICS, *JOB_METRICS)  # none of its own
    assert "mean_hit_rate" in metric_names(env_plugin(DEFAULT_ENV_ID))
    scores = [Score(eprewmean=1.0, eval_reward=r, timesteps=128, model="m.zip", env_id=ENV_ID)
              for r in (10.0, 20.0)]
    metrics = job_metrics(scores, failed_attempts=0, trained_iterations=1)
    assert tuple(metrics) == metric_names(PLUGIN)
    assert tuple(metrics)[:4] == TRAINING_METRICS and metrics["mean_eval_reward"] == 15.0


@pytest.mark.slow
def test_the_learner_trains_and_continues_it(tmp_path):
    main = write_configs(tmp_path / "cfg", env_kwargs={"max_episode_steps": 100})

    def learner(*overrides: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "learning", str(main), *overrides],
                              cwd=tmp_path, env=plugin_env(), capture_output=True, text=True,
                              timeout=300)

    result = learner()
    assert result.returncode == 0, result.stderr[-3000:]
    logs = tmp_path / "logs"
    evaluation = json.loads((logs / "evaluation.json").read_text())
    assert evaluation["env_id"] == ENV_ID and evaluation["num_timesteps"] == 128
    assert "hit_rate" not in evaluation and evaluation["episodes"] == 2
    assert math.isfinite(evaluation["mean_reward"])
    assert 1 <= evaluation["mean_episode_length"] <= 100  # env_kwargs reached gymnasium.make
    assert sorted(p.name for p in (logs / "configs").iterdir()) == [
        "config.json", "rl_common_config.json", "rl_config.json"]
    with zipfile.ZipFile(tmp_path / "models" / "model.zip") as archive:
        data = json.loads(archive.read("data"))
    assert data["observation_space"]["_shape"] == [4]
    # continuing checks the saved model against the plug-in's spaces (not the table
    # tennis's 22 observations) and evaluates it again
    result = learner("rl_config.load_path=models/model.zip", "rl_config.num_timesteps=32")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((logs / "evaluation.json").read_text())["num_timesteps"] == 160
    # the resolved configs rerun as they are
    assert load_configs(logs / "configs" / "config.json", check_load_path=False).env is PLUGIN


def cartpole_sweep(tmp_path: Path) -> dict:
    """A tiny hp_optimization of the CartPole plug-in (its templates under tmp_path)."""
    templates_dir = tmp_path / "templates"
    write_configs(templates_dir)
    templates = templates_dir / "config.json"
    return {
        "optimization_procedure_name": "cartpole", "results_dir": str(tmp_path / "results"),
        "script_relative_path": "run_learning.py", "run_in_working_dir": True,
        "no_user_interaction": True, "generate_report": "never", "remove_jobs_dir": False,
        "num_best_jobs_whose_data_is_kept": 2,
        "environment_setup": {"virtual_env_path": sys.prefix},
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": {
            "config.config_templates": str(templates),
            "config.rl_config.num_timesteps": 64,
            "learning_runs_per_job": 1, "training_iterations": 2, "max_attempts": 1,
        },
        "optimizer_str": "cem_metaoptimizer",
        "optimizer_settings": {"with_restarts": False, "num_jobs_in_elite": 2},
        "optimization_setting": {"metric_to_optimize": "mean_eval_reward", "minimize": False,
                                 "number_of_samples": 2, "n_jobs_per_iteration": 2,
                                 "run_local": True},
        "optimized_params": [
            {"param": "config.rl_config.learning_rate", "distribution": "TruncatedLogNormal",
             "bounds": [1e-4, 1e-2]},
            {"param": "config.rl_config.gamma", "distribution": "Discrete",
             "options": [0.9, 0.99]},
        ],
    }


def test_the_pre_flight_knows_the_metrics_of_the_sweep_s_env(tmp_path, capsys, monkeypatch):
    """metric_to_optimize is checked against the metrics of the env the templates choose:
    CartPole's jobs report no mean_hit_rate."""
    from learning.launch.launcher import main

    monkeypatch.chdir(REPO)
    sweep = cartpole_sweep(tmp_path)
    sweep["optimization_setting"]["metric_to_optimize"] = "mean_hit_rate"
    path = tmp_path / "cartpole.json"
    path.write_text(json.dumps(sweep))
    assert main([str(path), "--check"]) == 2
    out = capsys.readouterr().out
    assert "'mean_hit_rate' is not a metric the jobs report; valid: mean_eprewmean" in out
    assert "mean_eval_reward" in out.split("valid:")[1]


@pytest.mark.slow
def test_a_tiny_sweep_optimizes_it(tmp_path, inspect_cli):
    import pandas as pd

    sweep = cartpole_sweep(tmp_path)
    path = tmp_path / "cartpole.json"
    path.write_text(json.dumps(sweep))
    result = subprocess.run(
        [sys.executable, "-m", "learning.launch", str(path)], cwd=REPO,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        env=dict(plugin_env(), CLUSTER_UTILS_CACHE_DIR=str(tmp_path / "cache")))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    root = tmp_path / "results" / "cartpole"
    jobs = pd.read_csv(root / "all_data.csv", index_col=0)
    assert len(jobs) == 2 and jobs["mean_eval_reward"].notna().all()
    assert (jobs["trained_iterations"] == 2).all() and "mean_hit_rate" not in jobs
    kept = sorted((root / "best_jobs").glob("*/job_state.json"))
    assert len(kept) == 2
    for state_file in kept:
        state = json.loads(state_file.read_text())
        assert state["runs"][0]["score"]["env_id"] == ENV_ID
        assert "mean_hit_rate" not in state["metrics"]
        configs = sorted(p.name for p in (state_file.parent / "run_0.1-0" / "config").iterdir())
        assert configs == ["config.json", "rl_common_config.json", "rl_config.json"]
    # the running estimate after iteration 1 (the pruning rule's) has its metrics too
    for record in sorted((root / "intermediate_results").glob("job_*.json")):
        (first,) = json.loads(record.read_text())["iterations"]
        assert tuple(first["metrics"]) == metric_names(PLUGIN)
    code, out, err = inspect_cli(root, "--report", tmp_path / "report.html")
    assert code == 0, err
    assert "mean_eval_reward" in out
