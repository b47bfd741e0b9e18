"""Faults a job survives without a wrong result and with at most one checkpoint interval
of work lost: learners killed (mid-training, after they finished, during the evaluation),
a job signalled after its last learner, two copies of a job at once, a full or read-only
disk, a restart state without scores. Real jobs, real learners, tiny budgets; the disks
are real tmpfs mounts (skipped without root)."""

from __future__ import annotations

import csv
import json
import math
import re
import signal
import subprocess
import sys
import threading
import time

import pytest
from job_helpers import (
    LearnerSignaller,
    job_settings,
    progress_rows,
    read_state,
    run_info_shows,
    write_settings,
)

from learning.contract import EXIT_NO_SPACE, EXIT_RESUME, EXIT_WRITE_FAILED
from learning.job.cli import EXIT_FAILED, main
from learning.job.continuation import model_timesteps

pytestmark = pytest.mark.slow  # every test here runs real jobs


def run_job(tmp_path, working_dir=None, **params):
    working_dir = working_dir or tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(working_dir, **params))
    return main(["run_learning.py", str(settings)]), working_dir


def rerun(tmp_path):
    return main(["run_learning.py", str(tmp_path / "settings.json")])


def run_info(working_dir, attempt_dir):
    return json.loads((working_dir / attempt_dir / "logs" / "run_info.json").read_text())


def logged_timesteps(attempt_folder):
    with open(attempt_folder / "logs" / "progress.csv", newline="") as f:
        return max(int(row["time/total_timesteps"]) for row in csv.DictReader(f))


def outcomes(working_dir, run=0):
    return [(a["dir"], a["outcome"]) for a in read_state(working_dir)["runs"][run]["attempts"]]


CHECKPOINTS = dict(learning_runs_per_job=1, config__rl_config__num_timesteps=1024,
                   config__rl_common_config__checkpoint_interval=128)


def test_killed_learner_is_retried_from_its_last_checkpoint(tmp_path):
    """SIGKILL after two checkpoints (every 128 timesteps, rollouts of 32): the retry
    continues from the newest one and trains only what is left; the total is the target."""
    working_dir = tmp_path / "job"
    with LearnerSignaller(working_dir, signal.SIGKILL, dirs={"run_0.0-0"},
                          when=run_info_shows(lambda i: i.get("checkpoints", 0) >= 2)):
        code, _ = run_job(tmp_path, **CHECKPOINTS)
    assert code == 0
    assert outcomes(working_dir) == [("run_0.0-0", "failed"), ("run_0.0-1", "ok")]
    killed, retry = read_state(working_dir)["runs"][0]["attempts"]
    saved = killed["timesteps"]
    assert killed["model_saved"] and saved == model_timesteps(working_dir / "run_0.0-0/model.zip")
    assert saved >= 256 and saved % 32 == 0
    assert logged_timesteps(working_dir / "run_0.0-0") - saved <= 128  # lost: one interval
    assert retry["load_path"] == "../run_0.0-0/model.zip"
    assert retry["num_timesteps"] == 1024 - saved
    assert run_info(working_dir, "run_0.0-1")["num_timesteps"] == 1024
    assert read_state(working_dir)["metrics"]["failed_attempts"] == 1


@pytest.mark.parametrize("target", ["learner", "job"])
def test_signal_after_the_learner_finished_keeps_its_result(tmp_path, target):
    """The learner has written run_info 'finished', evaluation.json and its model: a SIGKILL
    to it does not make it a failed attempt, and a SIGTERM to the job then finishes the job
    (it does not exit for resume and train that sample again)."""
    working_dir = tmp_path / "job"
    signum = signal.SIGKILL if target == "learner" else signal.SIGTERM
    with LearnerSignaller(working_dir, signum, to_job=target == "job",
                          when=run_info_shows(lambda i: i["status"] == "finished")) as signaller:
        code, _ = run_job(tmp_path, learning_runs_per_job=1)
    assert signaller.hit == ["run_0.0-0"]
    assert code == 0
    state = read_state(working_dir)
    assert state["status"] == "finished" and state["segments"][-1]["outcome"] == "finished"
    (attempt,) = state["runs"][0]["attempts"]
    assert attempt["outcome"] == "ok" and state["metrics"]["failed_attempts"] == 0
    if target == "learner" and attempt["signal"] is not None:  # else it exited first
        assert attempt["signal"] == signal.SIGKILL and "SIGKILL" in attempt["message"]


def test_stop_during_the_evaluation_resumes_with_the_evaluation_only(tmp_path):
    """A model stopped while it is evaluated is fully trained: the resumed job evaluates it
    (a learner with num_timesteps 0), it does not train another rollout."""
    working_dir = tmp_path / "job"
    evaluating = run_info_shows(lambda i: i["status"] == "running")
    with LearnerSignaller(working_dir, signal.SIGTERM, to_job=True, when=lambda folder: (
            (folder / "model.zip").exists() and evaluating(folder))):
        code, _ = run_job(tmp_path, learning_runs_per_job=1,
                          config__rl_common_config__checkpoint_interval=0,
                          config__rl_common_config__evaluation_episodes=300)
    assert code == EXIT_RESUME
    (first,) = read_state(working_dir)["runs"][0]["attempts"]
    assert (first["outcome"], first["timesteps"]) == ("interrupted", 64)
    assert "during the evaluation" in first["message"]
    assert rerun(tmp_path) == 0
    second = read_state(working_dir)["runs"][0]["attempts"][1]
    assert (second["num_timesteps"], second["outcome"]) == (0, "ok")
    info = run_info(working_dir, "run_0.0-1")
    assert (info["num_timesteps_start"], info["num_timesteps"]) == (64, 64)


def test_a_second_copy_of_a_running_job_refuses_and_leaves_the_first_alone(tmp_path, capsys):
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=1, config__rl_config__num_timesteps=2048))
    first = subprocess.Popen([sys.executable, "run_learning.py", str(settings)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not progress_rows(1)(working_dir / "run_0.0-0"):
            assert time.time() < deadline and first.poll() is None, first.communicate()
            time.sleep(0.05)
        assert main(["run_learning.py", str(settings)]) == EXIT_FAILED
        err = capsys.readouterr().err
        assert re.search(rf"job failed: another copy of this job is running in {working_dir}"
                         rf" \(pid {first.pid} on .*\); this one stops without touching it", err)
    finally:
        _, first_err = first.communicate(timeout=300)
    assert first.returncode == 0, first_err
    state = read_state(working_dir)
    assert outcomes(working_dir) == [("run_0.0-0", "ok")] and len(state["segments"]) == 1


def fill_when(working_dir, check, fill_disk, disk):
    """A thread that fills ``disk`` once ``check(attempt folder)`` holds for run_0.0-0."""

    def watch():
        deadline = time.time() + 120
        while time.time() < deadline and not check(working_dir / "run_0.0-0"):
            time.sleep(0.02)
        fill_disk(disk)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_full_disk_stops_the_job_and_the_same_command_continues(
        tmp_path, small_disk, fill_disk, capsys):
    """The disk of the job's folder fills while its learner trains: the learner exits 74,
    the job stops (exit code 74, the message says what to do) without counting a failed
    attempt; with space freed, the same command continues from the last checkpoint."""
    disk = small_disk(6144)
    working_dir = disk / "job"
    watcher = fill_when(working_dir, run_info_shows(lambda i: i.get("checkpoints", 0) >= 1),
                        fill_disk, disk)
    code, _ = run_job(tmp_path, working_dir, **CHECKPOINTS)
    watcher.join()
    assert code == EXIT_NO_SPACE
    err = capsys.readouterr().err
    assert re.search(rf"job failed: no space left on device: {working_dir}/run_0.0-0\S*; free"
                     r" space and run the same command again to continue", err), err
    state = read_state(working_dir)  # recorded, with the space the job had kept for it
    assert state["status"] == "running" and state["segments"][-1]["outcome"] == "no_space"
    (attempt,) = state["runs"][0]["attempts"]
    assert attempt["outcome"] == "no_space" and state["runs"][0]["failed_attempts"] == 0
    assert not list(working_dir.rglob(".*.tmp*"))  # no temporary files left behind

    for filler in disk.glob("filler*"):
        filler.unlink()
    assert rerun(tmp_path) == 0
    state = read_state(working_dir)
    assert outcomes(working_dir) == [("run_0.0-0", "no_space"), ("run_0.0-1", "ok")]
    first, retry = state["runs"][0]["attempts"]
    assert first["model_saved"] and retry["load_path"] == "../run_0.0-0/model.zip"
    assert retry["num_timesteps"] == 1024 - first["timesteps"]
    assert run_info(working_dir, "run_0.0-1")["num_timesteps"] == 1024
    assert state["metrics"]["failed_attempts"] == 0


def test_settings_json_on_a_full_disk_is_kept(tmp_path, small_disk, fill_disk, capsys):
    """cluster_utils rewrites the job's settings.json when the job starts; on a full disk
    that left a 0-byte file, the job's only copy of its parameters here."""
    disk = small_disk(1024)
    settings = write_settings(disk / "settings.json", job_settings(disk, learning_runs_per_job=1))
    text = settings.read_text()
    fill_disk(disk)
    assert main(["run_learning.py", str(settings)]) == EXIT_NO_SPACE
    assert (f"job failed: no space left on device: {settings}; free space and run the same"
            " command again") in capsys.readouterr().err
    assert settings.read_text() == text
    assert [p.name for p in disk.iterdir() if p.name != "filler0"] == ["settings.json"]


def test_read_only_working_dir_is_one_line_and_exit_code_73(tmp_path, read_only_view, capsys):
    folder = tmp_path / "folder"
    folder.mkdir()
    view = read_only_view(folder)
    settings = write_settings(tmp_path / "settings.json", job_settings(view / "job"))
    assert main(["run_learning.py", str(settings)]) == EXIT_WRITE_FAILED
    err = capsys.readouterr().err
    assert err.startswith(f"job failed: cannot write {view}/job: read-only file system; make it"
                          " writable and run the same command again to continue"), err
    assert err.count("\n") == 1


def test_no_training_episode_ended_is_still_a_result(tmp_path):
    """64 timesteps over 8 envs end no training episode: rollout/ep_rew_mean is undefined
    (mean_eprewmean NaN), but the evaluation's metrics are real, so the job finishes."""
    code, working_dir = run_job(tmp_path, learning_runs_per_job=1,
                                config__rl_config__n_envs=8, config__rl_config__n_steps=8)
    assert code == 0
    metrics = read_state(working_dir)["metrics"]
    assert math.isnan(metrics["mean_eprewmean"])
    assert math.isfinite(metrics["mean_eval_reward"]) and math.isfinite(metrics["mean_hit_rate"])


def test_a_state_without_scores_never_finishes_with_nan_metrics(tmp_path, capsys):
    code, working_dir = run_job(tmp_path, learning_runs_per_job=2)
    assert code == 0
    path = working_dir / "job_state.json"
    state = json.loads(path.read_text())
    state["runs"][1]["score"]["eval_reward"] = math.nan  # e.g. edited, or a lost evaluation
    path.write_text(json.dumps(state))
    assert rerun(tmp_path) == EXIT_FAILED
    err = capsys.readouterr().err
    assert re.search(r"job failed: no result to report \(a job never reports NaN metrics\):"
                     r" .* run 1 has no eval_reward \(mean_reward of run_1.0-0/logs/"
                     r"evaluation.json\)", err), err
    assert read_state(working_dir)["status"] == "failed"
