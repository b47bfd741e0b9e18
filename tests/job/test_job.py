"""The job (learning.job.cli.main) in-process, on tiny budgets with the real learner child.

Faults are real: learner processes get SIGKILL, the job gets SIGTERM (the signals are
sent by a watcher thread that reads the job's restart state for the learner's pid).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from job_helpers import LearnerSignaller, job_settings, progress_rows, read_state, write_settings

from learning.contract import EXIT_CONFIG, EXIT_RESUME
from learning.job.cli import EXIT_FAILED, main
from learning.job.metrics import METRIC_NAMES
from learning.records.job_state import JobState, save_state

pytestmark = pytest.mark.slow  # every test here runs real learner processes


def run_job(tmp_path, extra=None, **params):
    working_dir = tmp_path / "job"
    settings = job_settings(working_dir, extra, **params)
    settings = write_settings(tmp_path / "settings.json", settings)
    return main(["run_learning.py", str(settings)]), working_dir


def read_metrics(working_dir):
    with open(working_dir / "metrics.csv", newline="") as f:
        return {key: float(value) for key, value in next(csv.DictReader(f)).items()}


def run_info(working_dir, attempt_dir):
    return json.loads((working_dir / attempt_dir / "logs" / "run_info.json").read_text())


def test_runs_have_distinct_seeds_and_self_explaining_dirs(tmp_path):
    working_dir = tmp_path / "job"
    settings = job_settings(working_dir, {"config.hysr_config.robot_position:0": 0.2},
                            learning_runs_per_job=2, local_cpu_pinning=True)
    # the form cluster_utils uses: a dict literal on the command line
    code = main(["run_learning.py", "--parameter-dict", repr(settings)])
    assert code == 0
    state = read_state(working_dir)
    assert state["status"] == "finished"
    seeds = [run["seed"] for run in state["runs"]]
    assert len(set(seeds)) == 2
    for run, seed in zip(state["runs"], seeds, strict=True):
        name = f"run_{run['run']}.0-0"
        assert [a["dir"] for a in run["attempts"]] == [name]
        folder = working_dir / name
        for item in ("command.txt", "stdout.log", "stderr.log", "model.zip",
                     "config/config.json", "logs/progress.csv", "logs/evaluation.json"):
            assert (folder / item).exists(), item
        assert run_info(working_dir, name)["seed"] == seed
        hysr = json.loads((folder / "config" / "hysr_config.json").read_text())
        assert hysr["robot_position"][0] == 0.2
        assert "robot_position:0" not in hysr
        assert "-m learning config/config.json" in (folder / "command.txt").read_text()
    reserved = state["segments"][0]["cpus"]  # None if other jobs held the CPUs
    if reserved is not None:
        assert len(reserved) == len(os.sched_getaffinity(0))
    for run in state["runs"]:  # each learner on its own CPU, with one torch thread
        (attempt,) = run["attempts"]
        assert len(attempt["cpus"]) == 1
        assert reserved is None or set(attempt["cpus"]) <= set(reserved)
        assert f"taskset --cpu-list {attempt['cpus'][0]} " in (
            working_dir / attempt["dir"] / "command.txt").read_text()
        info = run_info(working_dir, attempt["dir"])
        assert info["torch_threads"] == 1 and info["cpus"] == attempt["cpus"]
    metrics = read_metrics(working_dir)
    assert set(METRIC_NAMES) <= set(metrics)
    assert metrics["finished_runs"] == 2 and metrics["failed_attempts"] == 0
    evals = [run["score"]["eval_reward"] for run in state["runs"]]
    assert metrics["mean_eval_reward"] == pytest.approx(sum(evals) / 2)


def test_chained_iterations_continue_the_model(tmp_path):
    code, working_dir = run_job(tmp_path, learning_runs_per_job=1, training_iterations=2)
    assert code == 0
    run = read_state(working_dir)["runs"][0]
    assert [a["dir"] for a in run["attempts"]] == ["run_0.0-0", "run_0.1-0"]
    rl = json.loads((working_dir / "run_0.1-0/config/rl_config.json").read_text())
    assert rl["load_path"] == "../run_0.0-0/model.zip"
    second = run_info(working_dir, "run_0.1-0")
    assert second["num_timesteps_start"] == 64 and second["num_timesteps"] == 128
    assert run["score"]["timesteps"] == 128


def test_killed_learner_is_retried_from_the_last_model(tmp_path):
    working_dir = tmp_path / "job"
    with LearnerSignaller(working_dir, signal.SIGKILL, dirs={"run_0.1-0"},
                          when="logs/run_info.json") as killer:
        code, _ = run_job(tmp_path, learning_runs_per_job=1, training_iterations=2)
    assert killer.hit == ["run_0.1-0"]
    assert code == 0
    run = read_state(working_dir)["runs"][0]
    outcomes = [(a["dir"], a["outcome"]) for a in run["attempts"]]
    assert outcomes == [("run_0.0-0", "ok"), ("run_0.1-0", "failed"), ("run_0.1-1", "ok")]
    assert "killed by SIGKILL" in run["attempts"][1]["message"]
    rl = json.loads((working_dir / "run_0.1-1/config/rl_config.json").read_text())
    assert rl["load_path"] == "../run_0.0-0/model.zip" and rl["num_timesteps"] == 64
    assert run_info(working_dir, "run_0.1-1")["num_timesteps"] == 128
    assert read_metrics(working_dir)["failed_attempts"] == 1


def test_run_failing_max_attempts_fails_the_job(tmp_path, capsys):
    working_dir = tmp_path / "job"
    with LearnerSignaller(working_dir, signal.SIGKILL):  # every attempt is killed
        code, _ = run_job(tmp_path, learning_runs_per_job=2, max_attempts=2)
    assert code == EXIT_FAILED
    # the runs train at once (on two CPUs): whichever fails its second attempt first
    # fails the job
    match = re.search(r"job failed: run (\d) failed 2 attempts \(max_attempts 2\).*run_\1.0-0: "
                      r"failed: killed by SIGKILL.*run_\1.0-1: failed", capsys.readouterr().err)
    assert match
    state = read_state(working_dir)
    assert state["status"] == "failed" and "max_attempts 2" in state["message"]
    assert state["in_flight"] == [] and state["segments"][0]["outcome"] == "failed"
    attempts = [len(run["attempts"]) for run in state["runs"]]
    assert attempts[int(match[1])] == 2 and max(attempts) <= 2  # nothing more was tried
    assert not (working_dir / "metrics.csv").exists()
    # a restarted job reports the same failure without training again
    assert main(["run_learning.py", str(tmp_path / "settings.json")]) == EXIT_FAILED
    assert f"run {match[1]} failed 2 attempts" in capsys.readouterr().err
    assert [len(run["attempts"]) for run in read_state(working_dir)["runs"]] == attempts


def test_learner_config_error_is_not_retried(tmp_path, capsys):
    """A template broken between two chunks of a job: the resumed job does not check again
    (its parameters did not change), the learner exits 2 and the job fails at once."""
    templates = tmp_path / "templates"
    shutil.copytree(Path("config"), templates)
    mapping = write_settings(templates / "templates.json", json.loads(
        Path("hp_optim/config_templates_ppo.json").read_text().replace("../config/", "")))
    working_dir = tmp_path / "job"
    with LearnerSignaller(working_dir, signal.SIGTERM, when="logs/progress.csv", to_job=True):
        code, _ = run_job(tmp_path, {"config.config_templates": str(mapping)},
                          learning_runs_per_job=1, config__rl_config__num_timesteps=1024)
    assert code == EXIT_RESUME
    ppo = templates / "ppo_default.json"
    ppo.write_text(ppo.read_text().replace('"gamma": 0.99', '"gamma": 1.5'))
    assert main(["run_learning.py", str(tmp_path / "settings.json")]) == EXIT_CONFIG
    assert re.search(r"config error: config error in .*run_0.0-1: .*gamma",
                     capsys.readouterr().err)
    state = read_state(working_dir)
    assert [a["outcome"] for a in state["runs"][0]["attempts"]] == ["interrupted",
                                                                     "config_error"]


def test_sigterm_saves_the_model_and_the_next_job_continues(tmp_path):
    working_dir = tmp_path / "job"
    params = dict(learning_runs_per_job=1, config__rl_config__num_timesteps=1024)
    with LearnerSignaller(working_dir, signal.SIGTERM, when=progress_rows(2),
                          to_job=True) as signaller:
        code, _ = run_job(tmp_path, **params)
    assert signaller.hit == ["run_0.0-0"]
    assert code == EXIT_RESUME
    state = read_state(working_dir)
    first = state["runs"][0]["attempts"][0]
    assert first["outcome"] == "interrupted" and first["model_saved"]
    partial = first["timesteps"]
    assert 0 < partial < 1024 and partial % 32 == 0  # the rollouts it trained on
    assert state["segments"][0]["outcome"] == "resume"

    assert main(["run_learning.py", str(tmp_path / "settings.json")]) == 0
    second = read_state(working_dir)["runs"][0]["attempts"][1]
    assert second["dir"] == "run_0.0-1" and second["outcome"] == "ok"
    assert second["num_timesteps"] == 1024 - partial
    assert second["load_path"] == "../run_0.0-0/model.zip"
    assert run_info(working_dir, "run_0.0-1")["num_timesteps"] == 1024


def test_rerun_of_a_finished_job_dir_starts_fresh_elsewhere(tmp_path):
    code, working_dir = run_job(tmp_path, learning_runs_per_job=1)
    assert code == 0
    copy = tmp_path / "best_jobs" / "directories_0"
    copy.parent.mkdir()
    working_dir.rename(copy)
    assert main(["run_learning.py", str(copy / "settings.json")]) == 0
    (rerun,) = (tmp_path / "reruns").iterdir()
    assert rerun.name.startswith("directories_0-")
    assert read_state(rerun)["status"] == "finished"
    assert json.loads((rerun / "settings.json").read_text())["working_dir"] == str(rerun)
    assert len(read_state(copy)["runs"][0]["attempts"]) == 1  # the record is untouched


def test_job_killed_mid_training_is_settled_by_the_next_job(tmp_path):
    """SIGKILL to the job itself: its learner gets SIGTERM (parent-death signal), saves
    the model; the next job waits for that learner, records the partial model, goes on."""
    working_dir = tmp_path / "job"
    settings = job_settings(working_dir, learning_runs_per_job=1,
                            config__rl_config__num_timesteps=1024)
    settings_file = write_settings(tmp_path / "settings.json", settings)
    job = subprocess.Popen([sys.executable, "run_learning.py", str(settings_file)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                in_flight = read_state(working_dir)["in_flight"]
            except (OSError, ValueError):
                in_flight = []
            if in_flight and in_flight[0]["pid"] and progress_rows(2)(
                    working_dir / in_flight[0]["dir"]):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the learner did not start training")
        job.send_signal(signal.SIGKILL)
    finally:
        job.wait()
    assert [e["dir"] for e in read_state(working_dir)["in_flight"]] == ["run_0.0-0"]

    assert main(["run_learning.py", str(settings_file)]) == 0
    attempts = read_state(working_dir)["runs"][0]["attempts"]
    assert [(a["dir"], a["outcome"]) for a in attempts] == [
        ("run_0.0-0", "interrupted"), ("run_0.0-1", "ok")]
    assert attempts[0]["model_saved"] and attempts[1]["load_path"] == "../run_0.0-0/model.zip"
    # the learner, stopped mid-rollout, counted only what it trained: the total is the target
    assert attempts[0]["timesteps"] % 32 == 0
    assert attempts[1]["num_timesteps"] == 1024 - attempts[0]["timesteps"]
    assert run_info(working_dir, "run_0.0-1")["num_timesteps"] == 1024


def test_truncated_restart_state_fails_clearly(tmp_path, capsys):
    working_dir = tmp_path / "job"
    working_dir.mkdir()
    save_state(working_dir, JobState.new("x", training_iterations=1, max_attempts=3, seeds=[1]))
    text = (working_dir / "job_state.json").read_text()
    (working_dir / "job_state.json").write_text(text[: len(text) // 2])
    code, _ = run_job(tmp_path)
    assert code == EXIT_FAILED
    assert re.search(r"job_state.json is not valid JSON .*Move it away", capsys.readouterr().err)


def test_state_of_other_parameters_is_moved_aside(tmp_path):
    working_dir = tmp_path / "job"
    working_dir.mkdir()
    (working_dir / "run_0.0-0").mkdir()
    save_state(working_dir, JobState.new("other parameters", 1, 3, seeds=[1]))
    code, _ = run_job(tmp_path, learning_runs_per_job=1)
    assert code == 0
    (stale,) = working_dir.glob("stale-*")
    assert sorted(p.name for p in stale.iterdir()) == ["job_state.json", "run_0.0-0"]
    assert read_state(working_dir)["status"] == "finished"
