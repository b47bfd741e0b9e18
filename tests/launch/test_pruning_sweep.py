"""A real local grid search (the launcher, cluster_utils, run_learning.py jobs, the real
learner on tiny budgets) in which the job's pruning rule stops a clearly bad setting."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from learning.records.intermediate import read_intermediate_record
from learning.records.job_state import load_state

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
GOOD = [0.0, 0.05, 0.1, 0.15]
BAD = 3.0  # the robot 3 m to the side of the table: the racket never gets near the ball


@pytest.mark.slow
def test_a_clearly_bad_setting_is_stopped_early_and_still_gets_its_metric(tmp_path,
                                                                          inspect_cli):
    config = {
        "optimization_procedure_name": "pruned", "results_dir": str(tmp_path / "results"),
        "run_in_working_dir": True, "no_user_interaction": True,
        "script_relative_path": "run_learning.py", "remove_jobs_dir": False,
        "environment_setup": {"virtual_env_path": sys.prefix},
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": {
            "config.config_templates": "hp_optim/config_templates_ppo.json",
            "config.rl_config.num_timesteps": 64, "config.rl_config.n_steps": 32,
            "config.rl_config.batch_size": 32, "config.rl_config.n_epochs": 1,
            "config.rl_common_config.evaluation_episodes": 3,
            "intermediate_evaluation_episodes": 2,
            "learning_runs_per_job": 1, "training_iterations": 2, "max_attempts": 1,
            "pruning.keep_fraction": 0.5, "pruning.min_jobs": 3,
        },
        # submitted in this order, two at a time: the bad one reaches its first iteration
        # after the others
        "hyperparam_list": [{"param": "config.hysr_config.robot_position:0",
                             "values": GOOD + [BAD]}],
        "restarts": 1,
    }
    path = tmp_path / "pruned.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "learning.sweep", str(path)], cwd=REPO, stdin=subprocess.DEVNULL,
        env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(tmp_path / "cache")),
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    root = tmp_path / "results" / "pruned"
    jobs = pd.read_csv(root / "all_data.csv", index_col=0)
    assert len(jobs) == 5
    is_bad = jobs["config.hysr_config.robot_position:0"] == BAD
    bad = jobs[is_bad].iloc[0]
    assert bad["stopped_early"] == 1 and bad["trained_iterations"] == 1
    assert pd.notna(bad["mean_eval_reward"])  # what cluster_utils recorded for the sample
    assert bad["mean_eval_reward"] < jobs[~is_bad]["mean_eval_reward"].min()
    first = jobs[jobs["config.hysr_config.robot_position:0"] == GOOD[0]].iloc[0]
    assert first["stopped_early"] == 0 and first["trained_iterations"] == 2  # no peers then
    bad_id = int(bad["id"])
    record = read_intermediate_record(root / "intermediate_results" / f"job_{bad_id}.json")
    assert record.status == "stopped_early" and record.stopped_at == 1
    assert record.final.metrics["mean_eval_reward"] == pytest.approx(
        bad["mean_eval_reward"])
    state = load_state(root / "working_directories" / str(bad_id))
    assert [a.dir for a in state.runs[0].attempts] == ["run_0.0-0"]  # no iteration 2
    evaluation = json.loads((root / "working_directories" / str(bad_id) / "run_0.0-0" / "logs"
                             / "evaluation.json").read_text())
    assert evaluation["episodes"] == 2  # the short intermediate evaluation

    code, out, _ = inspect_cli(root, "--top", "5", "--report", tmp_path / "report.html")
    assert code == 0
    (line,) = [line for line in out.splitlines() if line.split()[:2][-1:] == [str(bad_id)]]
    assert "after it. 1" in line
    page = (tmp_path / "report.html").read_text()
    assert "The metric over training iterations" in page
    assert f"job {bad_id} after iteration 1" in page


@pytest.mark.slow
def test_a_rule_added_through_the_interface_alone_stops_the_jobs_of_a_real_sweep(tmp_path):
    """tests/pruning_rule_plugin.py registers the rule "stop_at" (no module of the package
    knows it); the sweep names that module in pruning.module, and every job, a separate
    process that cluster_utils starts, imports it, checks its option and asks it."""
    from pruning_rule_plugin import MODULE

    config = {
        "optimization_procedure_name": "plugin_rule", "results_dir": str(tmp_path / "results"),
        "run_in_working_dir": True, "no_user_interaction": True,
        "script_relative_path": "run_learning.py", "remove_jobs_dir": False,
        "environment_setup": {"virtual_env_path": sys.prefix},
        "cluster_requirements": {"request_cpus": 1},
        "fixed_params": {
            "config.config_templates": "hp_optim/config_templates_ppo.json",
            "config.rl_config.num_timesteps": 32, "config.rl_config.n_steps": 32,
            "config.rl_config.batch_size": 32, "config.rl_config.n_epochs": 1,
            "config.hysr_config.nb_steps_per_episode": 20,
            "config.rl_common_config.evaluation_episodes": 1,
            "learning_runs_per_job": 1, "training_iterations": 2, "max_attempts": 1,
            "pruning.module": MODULE, "pruning.rule": "stop_at", "pruning.after_iteration": 1,
        },
        "hyperparam_list": [{"param": "config.rl_config.learning_rate",
                             "values": [1e-4, 1e-3]}],
        "restarts": 1,
    }
    path = tmp_path / "plugin_rule.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [sys.executable, "-m", "learning.sweep", str(path)], cwd=REPO, stdin=subprocess.DEVNULL,
        env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(tmp_path / "cache")),
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    root = tmp_path / "results" / "plugin_rule"
    jobs = pd.read_csv(root / "all_data.csv", index_col=0)
    assert len(jobs) == 2
    assert (jobs["stopped_early"] == 1).all() and (jobs["trained_iterations"] == 1).all()
    assert jobs["mean_eval_reward"].notna().all()
    for job_id in jobs["id"].astype(int):
        record = read_intermediate_record(root / "intermediate_results" / f"job_{job_id}.json")
        assert record.status == "stopped_early" and record.stopped_at == 1
        working_dir = root / "working_directories" / str(job_id)
        assert [a.dir for a in load_state(working_dir).runs[0].attempts] == ["run_0.0-0"]
        log = (working_dir / "job.log").read_text()
        assert "pruning: stop_at: iteration 1 of 2, " in log and "stopping early" in log
