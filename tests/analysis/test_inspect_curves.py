"""Learning curves of chained runs: one curve across run_<r>.0-0, run_<r>.1-0, ..."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from learning.analysis.runs import learning_curve
from learning.contract import RunDirName
from learning.records.job_folder import run_dirs
from learning.records.job_state import Attempt, JobState, save_state

REPO_SCRIPT = "run_learning.py"


@pytest.mark.slow
def test_learning_curve_stitches_chained_training_iterations(tmp_path):
    from learning.contract import PROJECT_DIR

    job = tmp_path / "job"
    settings = {
        "config": {
            "config_templates": "hp_optim/config_templates_ppo.json",
            "rl_config": {"num_timesteps": 64, "n_steps": 32, "batch_size": 32, "n_epochs": 1},
            "hysr_config": {"nb_steps_per_episode": 10},
            "rl_common_config": {"evaluation_episodes": 1},
        },
        "learning_runs_per_job": 1,
        "training_iterations": 2,
        "max_attempts": 1,
        "working_dir": str(job),
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    result = subprocess.run([sys.executable, REPO_SCRIPT, str(tmp_path / "settings.json")],
                            cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    dirs = run_dirs(job)[0]
    assert [d.path.name for d in dirs] == ["run_0.0-0", "run_0.1-0"]
    curve = learning_curve(dirs)
    assert curve["timesteps"].tolist() == [32, 64, 96, 128]
    second = pd.read_csv(dirs[1].path / "logs" / "progress.csv")
    assert curve["reward"].tolist()[2:] == second["rollout/ep_rew_mean"].tolist()


def write_progress_logs(job, rows):
    """progress.csv of each run folder: {folder: [(timesteps, reward), ...]}."""
    for name, points in rows.items():
        logs = job / name / "logs"
        logs.mkdir(parents=True)
        lines = ["time/total_timesteps,rollout/ep_rew_mean"] + [f"{t},{r}" for t, r in points]
        (logs / "progress.csv").write_text("\n".join(lines) + "\n")


def write_state(job, attempts):
    """The job's restart state: one run with these attempts (dir, outcome, model_saved)."""
    state = JobState.new("digest", training_iterations=2, max_attempts=3, seeds=[0])
    for name, outcome, model_saved in attempts:
        _, iteration, attempt = RunDirName.parse(name)
        state.runs[0].attempts.append(Attempt(
            dir=name, iteration=iteration, attempt=attempt, seed=0, num_timesteps=64,
            load_path="", outcome=outcome, model_saved=model_saved))
    save_state(job, state)


def test_failed_attempts_are_left_out_of_a_runs_directories(tmp_path):
    """A crashed attempt's progress log must not be stitched into the run's curve."""
    job = tmp_path / "job"
    rows = {"run_0.0-0": [(32, -0.9), (64, -0.8)], "run_0.0-1": [(32, -0.5)],
            "run_0.1-0": [(64, -0.4)]}
    write_progress_logs(job, rows)
    write_state(job, [("run_0.0-0", "failed", False), ("run_0.0-1", "ok", False),
                      ("run_0.1-0", None, False)])
    dirs = run_dirs(job)[0]
    assert [d.path.name for d in dirs] == ["run_0.0-1", "run_0.1-0"]
    assert learning_curve(dirs)["reward"].tolist() == [-0.5, -0.4]


def test_a_killed_attempt_the_run_continued_from_is_part_of_its_curve(tmp_path):
    """A learner SIGKILLed after a checkpoint at 64: the retry continued from it, so the
    curve up to 64 is the killed attempt's; the retry's rows replace those after it."""
    job = tmp_path / "job"
    rows = {"run_0.0-0": [(32, -0.9), (64, -0.8), (96, -0.7)],
            "run_0.0-1": [(96, -0.6), (128, -0.5)],
            "run_0.0-2": [(32, -0.1)]}
    write_progress_logs(job, rows)
    write_state(job, [("run_0.0-0", "failed", True), ("run_0.0-1", "no_space", False),
                      ("run_0.0-2", "ok", False)])
    dirs = run_dirs(job)[0]
    assert [d.path.name for d in dirs] == ["run_0.0-0", "run_0.0-2"]
