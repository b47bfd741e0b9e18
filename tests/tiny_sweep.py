"""A real tiny sweep (cluster_utils' hp_optimization in local mode running run_learning.py:
PPO, 128 timesteps per run, 2 runs per job, 4 jobs): its settings and how to run one.
tests/conftest.py makes it once per test session (``sweep_root``; about a minute on two
cores); tests that need it are marked slow. And a tiny grid over envs
(:func:`tiny_envs_grid`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
METRIC = "mean_eval_reward"
PARAMS = ("config.rl_config.learning_rate", "config.rl_config.gamma")
NUM_JOBS = 4
RUNS_PER_JOB = 2
KEPT = 2  # num_best_jobs_whose_data_is_kept

TINY_SWEEP = {
    "optimization_procedure_name": "tiny",
    "script_relative_path": "run_learning.py",
    "run_in_working_dir": True,
    "no_user_interaction": True,
    "generate_report": "never",
    "remove_jobs_dir": False,
    "num_best_jobs_whose_data_is_kept": KEPT,
    "environment_setup": {"virtual_env_path": sys.prefix},
    "cluster_requirements": {"request_cpus": 1},
    "fixed_params": {
        "config.config_templates": "hp_optim/config_templates_ppo.json",
        "config.rl_config.num_timesteps": 128,
        "config.rl_config.n_steps": 32,
        "config.rl_config.batch_size": 32,
        "config.rl_config.n_epochs": 1,
        # short episodes, so that 128 timesteps log several rollout/ep_rew_mean values
        "config.hysr_config.nb_steps_per_episode": 20,
        "config.rl_common_config.evaluation_episodes": 2,
        "learning_runs_per_job": RUNS_PER_JOB,
        "max_attempts": 1,
    },
    "optimizer_str": "cem_metaoptimizer",
    "optimizer_settings": {"with_restarts": False, "num_jobs_in_elite": 2},
    "optimization_setting": {
        "metric_to_optimize": METRIC,
        "minimize": False,
        "number_of_samples": NUM_JOBS,
        "n_jobs_per_iteration": 2,
        "run_local": True,
    },
    "optimized_params": [
        {"param": PARAMS[0], "distribution": "TruncatedLogNormal", "bounds": [1e-5, 1e-2]},
        {"param": PARAMS[1], "distribution": "Discrete", "options": [0.9, 0.99]},
    ],
}


def run_cluster_utils(module: str, config: dict, folder: Path) -> None:
    """Run cluster_utils' hp_optimization/grid_search on ``config`` from the project dir."""
    os.makedirs(os.path.expanduser("~/.cache"), exist_ok=True)  # cluster_utils needs it
    config_file = folder / f"{config['optimization_procedure_name']}.json"
    config_file.write_text(json.dumps(config, indent=1))
    log = folder / f"{config['optimization_procedure_name']}.log"
    with open(log, "w") as f:
        result = subprocess.run(
            [sys.executable, "-m", module, str(config_file)], cwd=REPO,
            stdin=subprocess.DEVNULL, stdout=f, stderr=subprocess.STDOUT, timeout=600,
        )
    assert result.returncode == 0, f"{module} failed:\n{log.read_text()[-3000:]}"


def tiny_envs_grid(folder: Path, num_timesteps: int = 256) -> Path:
    """hp_optim/envs_grid.json with a tiny budget, run through the launcher: 2 envs (the
    table tennis and Pendulum-v1) x 2 learning rates, 2 runs (seeds) per job. Returns the
    results folder."""
    config = json.loads((REPO / "hp_optim" / "envs_grid.json").read_text())
    config["results_dir"] = str(folder / "results")
    config["environment_setup"] = {"virtual_env_path": sys.prefix}
    config["remove_jobs_dir"] = False
    config["fixed_params"].update({
        "config.rl_config.num_timesteps": num_timesteps, "config.rl_config.n_steps": 64,
        "config.rl_config.batch_size": 64, "config.rl_config.n_epochs": 1,
        "config.rl_common_config.evaluation_episodes": 2, "max_attempts": 1})
    path = folder / "envs_grid.json"
    path.write_text(json.dumps(config, indent=1))
    result = subprocess.run(
        [sys.executable, "-m", "learning.launch", str(path)], cwd=REPO,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(folder / "cache")))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "results" / config["optimization_procedure_name"]


#: a tiny population-based-training grid: the robot 1.2 m to the side of its place
#: (robot_position:0 1.45) cannot reach the ball, so those jobs score worse (about -1.5,
#: minus the distance to the ball) than the jobs at the robot's place (0.25): with 2 jobs at
#: a time in grid order, each far job finds the near jobs' records and exploits one
PBT_GRID = {
    "optimization_procedure_name": "tiny_pbt",
    "script_relative_path": "run_learning.py",
    "run_in_working_dir": True,
    "no_user_interaction": True,
    "generate_report": "never",
    "remove_jobs_dir": False,
    "remove_working_dirs": False,
    "environment_setup": {"virtual_env_path": sys.prefix},
    "cluster_requirements": {"request_cpus": 1, "max_cpus": 2},
    "restarts": 1,
    "fixed_params": {
        **{key: value for key, value in TINY_SWEEP["fixed_params"].items()},
        "training_iterations": 3,
        "pbt.mutations": ["config.rl_config.learning_rate"],
        "pbt.quantile_fraction": 0.5,
        "pbt.min_jobs": 1,
    },
    "hyperparam_list": [
        {"param": "config.hysr_config.robot_position:0", "values": [0.25, 1.45]},
        {"param": "config.rl_config.learning_rate", "values": [0.0003, 0.001, 0.003]},
    ],
}
PBT_NEAR_JOBS = (0, 1, 2)  #: the jobs with the robot at its place, in grid order


def tiny_pbt_grid(folder: Path, **changes: object) -> Path:
    """Run :data:`PBT_GRID` (6 jobs x 2 runs x 3 training iterations of 128 timesteps;
    about 20 s on 2 cores) through the launcher; ``changes``: top-level settings to
    replace. Returns the results folder."""
    config = dict(PBT_GRID, results_dir=str(folder / "results"), **changes)
    path = folder / "tiny_pbt.json"
    path.write_text(json.dumps(config, indent=1))
    result = subprocess.run(
        [sys.executable, "-m", "learning.launch", str(path)], cwd=REPO,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
        env=dict(os.environ, CLUSTER_UTILS_CACHE_DIR=str(folder / "cache")))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return folder / "results" / config["optimization_procedure_name"]
