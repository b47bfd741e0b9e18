"""Real cluster_utils runs in local mode (hp_optimization and grid_search) on the shipped
hp_optim configs, shrunk to tiny budgets, then a standalone rerun of the best job."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from job_helpers import REPO, read_state

from learning.job.metrics import METRIC_NAMES

pytestmark = pytest.mark.slow

TINY_FIXED = {
    "config.rl_config.num_timesteps": 64,
    "config.rl_config.n_steps": 32,
    "config.rl_config.batch_size": 32,
    "config.rl_config.n_epochs": 1,
    "config.rl_common_config.evaluation_episodes": 2,
    "learning_runs_per_job": 2,
}


def tiny_config(tmp_path: Path, name: str, **changes) -> Path:
    """The shipped config on tiny budgets: batch_size fixed (32 divides the tiny rollouts,
    so it is not optimized) and no pruning (the tests' jobs are too few for its rule)."""
    config = json.loads((REPO / "hp_optim" / name).read_text())
    config["results_dir"] = str(tmp_path / "results")
    for key in [k for k in config["fixed_params"] if k.startswith("pruning.")]:
        del config["fixed_params"][key]
    if "optimized_params" in config:
        config["optimized_params"] = [p for p in config["optimized_params"]
                                      if p["param"] not in TINY_FIXED]
    config["fixed_params"].update(TINY_FIXED)
    config.update(changes)
    path = tmp_path / name
    path.write_text(json.dumps(config, indent=2))
    return path


def run_module(module: str, config: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", module, str(config)],
        cwd=REPO,
        env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(tmp_path / "cache")),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def check_job_dir(job_dir: Path, runs: int = 2) -> dict:
    """Everything about a job is in its directory; returns its restart state."""
    for item in ("settings.json", "job_state.json", "job.log", "metrics.csv",
                 "param_choice.csv"):
        assert (job_dir / item).is_file(), item
    state = read_state(job_dir)
    assert state["status"] == "finished"
    for run in state["runs"]:
        for attempt in run["attempts"]:
            folder = job_dir / attempt["dir"]
            for item in ("command.txt", "stdout.log", "stderr.log", "model.zip",
                         "config/config.json", "config/rl_config.json", "logs/progress.csv",
                         "logs/evaluation.json", "logs/run_info.json"):
                assert (folder / item).is_file(), f"{attempt['dir']}/{item}"
    metrics = read_rows(job_dir / "metrics.csv")[0]
    assert set(METRIC_NAMES) <= set(metrics)
    assert float(metrics["finished_runs"]) == runs
    assert float(metrics["stopped_early"]) == 0
    return state


def test_hp_optimization_local(tmp_path):
    optimization = dict(json.loads((REPO / "hp_optim/ppo_local.json").read_text())
                        ["optimization_setting"], number_of_samples=2, n_jobs_per_iteration=2)
    config = tiny_config(tmp_path, "ppo_local.json", optimization_setting=optimization,
                         num_best_jobs_whose_data_is_kept=2)
    # one run of two chained iterations: two chunks (one per round: the setting
    # resume_after_each_round; by default a job trains both in one process, see
    # test_local_jobs_train_every_round_in_one_process), early results after the first
    changed = json.loads(config.read_text())
    changed["fixed_params"].update(learning_runs_per_job=1, training_iterations=2,
                                   resume_after_each_round=True)
    config.write_text(json.dumps(changed, indent=2))
    run_module("cluster_utils.hp_optimization", config, tmp_path)
    result_dir = tmp_path / "results" / "ppo_local"
    rows = read_rows(result_dir / "all_data.csv")
    assert len(rows) == 2
    for row in rows:
        assert row["mean_eval_reward"] not in ("", "nan")
        assert row["failed_attempts"] == "0.0"
    log = (result_dir / "cluster_run.log").read_text()
    for job_id in (0, 1):  # progress, early results (after iteration 1), resume
        assert f"Job {job_id} announced it is 50% done." in log
        assert f"Job {job_id} currently has mean_eval_reward=" in log
        assert f"Job {job_id} exited to be resumed." in log
    best = sorted((result_dir / "best_jobs").iterdir())
    assert len(best) == 2
    for job_dir in best:
        state = check_job_dir(job_dir, runs=1)
        assert [s["outcome"] for s in state["segments"]] == ["resume", "finished"]
        settings = json.loads((job_dir / "settings.json").read_text())
        rl = json.loads((job_dir / "run_0.0-0/config/rl_config.json").read_text())
        sampled = settings["config"]["rl_config"]  # the demo's optimized parameters
        assert rl["learning_rate"] == sampled["learning_rate"]
        assert rl["n_envs"] == sampled["n_envs"]
        assert rl["normalize"]["norm_obs"] == sampled["normalize"]["norm_obs"]

    # rerun the best job standalone, to completion, in a new directory
    best_id = max(rows, key=lambda row: float(row["mean_eval_reward"]))["_id"]
    settings_file = result_dir / "best_jobs" / f"directories_{best_id}" / "settings.json"
    rerun = subprocess.run(
        [sys.executable, "run_learning.py", str(settings_file)],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    (rerun_dir,) = (result_dir / "reruns").iterdir()
    check_job_dir(rerun_dir, runs=1)


def test_grid_search_local(tmp_path):
    """grid_search.json asks for 2 CPUs per job, one per run: each job trains its two runs
    at once, in one round, so it is one cluster chunk (no exit for resume)."""
    config = tiny_config(
        tmp_path, "grid_search.json",
        hyperparam_list=[{"param": "config.rl_config.learning_rate", "values": [1e-4, 1e-3]}],
    )
    run_module("cluster_utils.grid_search", config, tmp_path)
    result_dir = tmp_path / "results" / "ppo_grid"
    rows = read_rows(result_dir / "all_data.csv")
    assert sorted(float(row["config.rl_config.learning_rate"]) for row in rows) == [1e-4, 1e-3]
    for row in rows:
        state = check_job_dir(Path(row["working_dir"]))
        assert [s["outcome"] for s in state["segments"]] == ["finished"]
        first, second = (run["attempts"][0] for run in state["runs"])
        assert max(first["started"], second["started"]) < min(first["ended"], second["ended"])
        assert first["cpus"] != second["cpus"]


def run_two_iteration_jobs(tmp_path: Path, **fixed) -> tuple[Path, str]:
    """Two jobs of ppo_local.json, each one run of three chained iterations, plus
    ``fixed``; their results folder and cluster_utils' log."""
    optimization = dict(json.loads((REPO / "hp_optim/ppo_local.json").read_text())
                        ["optimization_setting"], number_of_samples=2, n_jobs_per_iteration=2)
    config = tiny_config(tmp_path, "ppo_local.json", optimization_setting=optimization,
                         num_best_jobs_whose_data_is_kept=2)
    changed = json.loads(config.read_text())
    changed["fixed_params"].update(learning_runs_per_job=1, training_iterations=3, **fixed)
    config.write_text(json.dumps(changed, indent=2))
    run_module("cluster_utils.hp_optimization", config, tmp_path)
    result_dir = tmp_path / "results" / "ppo_local"
    return result_dir, (result_dir / "cluster_run.log").read_text()


def test_local_jobs_train_every_round_in_one_process(tmp_path):
    """cluster_utils' local mode has no time limit: a job trains its chained iterations in
    one process (no exit for resume), its learners forked warm, and still reports its
    progress and its running estimate after each iteration."""
    result_dir, log = run_two_iteration_jobs(tmp_path)
    for job_id in (0, 1):
        assert f"Job {job_id} announced it is 33% done." in log
        assert f"Job {job_id} announced it is 66% done." in log
        assert f"Job {job_id} currently has mean_eval_reward=" in log
        assert f"Job {job_id} exited to be resumed." not in log
    for job_dir in sorted((result_dir / "best_jobs").iterdir()):
        state = check_job_dir(job_dir, runs=1)
        assert [s["outcome"] for s in state["segments"]] == ["finished"]
        attempts = state["runs"][0]["attempts"]
        assert [a["dir"] for a in attempts] == ["run_0.0-0", "run_0.1-0", "run_0.2-0"]
        assert all(a["warm"] for a in attempts), attempts
        assert state["segments"][0]["fork_server_seconds"] > 0


def test_local_jobs_exit_for_resume_when_their_time_is_short(tmp_path):
    """With a time limit (here the job's own, job_time_limit_seconds; under Slurm the
    allocation's) a job starts no iteration that its longest one so far says would not
    end in time, exits for resume, and the next job process goes on: with a limit of one
    second, every job process trains one iteration."""
    result_dir, log = run_two_iteration_jobs(tmp_path, job_time_limit_seconds=1)
    for job_id in (0, 1):
        assert f"Job {job_id} exited to be resumed." in log
    for job_dir in sorted((result_dir / "best_jobs").iterdir()):
        state = check_job_dir(job_dir, runs=1)
        assert [s["outcome"] for s in state["segments"]] == ["resume", "resume", "finished"]
        assert [s["learners"] for s in state["segments"]] == [1, 1, 1]
        assert "time short:" in (job_dir / "job.log").read_text()
