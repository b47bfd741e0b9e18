"""A job trains its runs at once, one learner per CPU (learning.job.loop, learning.job.pool).

The job runs in-process, standalone, with the test process's affinity cut to two CPUs;
the learners are real.  Faults are real signals (job_helpers.LearnerSignaller).
"""

from __future__ import annotations

import json
import os
import signal

import pytest
from job_helpers import LearnerSignaller, job_settings, progress_rows, read_state, write_settings

from learning.contract import EXIT_RESUME
from learning.job.cli import main

pytestmark = pytest.mark.slow  # every test here runs real learner processes


@pytest.fixture(autouse=True)
def two_cpus():
    """The job may use two CPUs (it runs two learners at once)."""
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        pytest.skip("needs two CPUs")
    os.sched_setaffinity(0, allowed[:2])
    yield
    os.sched_setaffinity(0, allowed)


def run_job(tmp_path, **params):
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(working_dir, **params))
    return main(["run_learning.py", str(settings)]), working_dir


def run_info(working_dir, attempt):
    return json.loads((working_dir / attempt["dir"] / "logs" / "run_info.json").read_text())


def overlap(a: dict, b: dict) -> bool:
    return max(a["started"], b["started"]) < min(a["ended"], b["ended"])


def test_runs_train_at_once_on_distinct_cpus_and_further_runs_wait(tmp_path):
    code, working_dir = run_job(tmp_path, learning_runs_per_job=3,
                                config__rl_config__num_timesteps=256)
    assert code == 0
    state = read_state(working_dir)
    first, second, third = [run["attempts"][0] for run in state["runs"]]
    assert [len(run["attempts"]) for run in state["runs"]] == [1, 1, 1]
    assert overlap(first, second) and first["cpus"] != second["cpus"]
    # the third run waited for a free CPU and took it
    freed = min((first, second), key=lambda attempt: attempt["ended"])
    assert third["started"] >= freed["ended"] and third["cpus"] == freed["cpus"]
    cpus = sorted(os.sched_getaffinity(0))
    assert state["segments"][0]["learner_cpus"] == [[cpus[0]], [cpus[1]]]
    for attempt in (first, second, third):
        info = run_info(working_dir, attempt)
        assert info["cpus"] == attempt["cpus"] and info["torch_threads"] == 1
        command = (working_dir / attempt["dir"] / "command.txt").read_text()
        assert "OMP_NUM_THREADS=1 MKL_NUM_THREADS=1" in command
    segment = state["segments"][0]
    busy = max(a["ended"] for a in (first, second, third)) - min(first["started"],
                                                                   second["started"])
    assert segment["learners"] == 3 and segment["learner_seconds"] == pytest.approx(busy)


def test_a_signal_during_concurrent_runs_saves_both(tmp_path):
    working_dir = tmp_path / "job"
    dirs = {"run_0.0-0", "run_1.0-0"}
    with LearnerSignaller(working_dir, signal.SIGTERM, dirs=dirs, when=progress_rows(2),
                          to_job=True, together=True) as signaller:
        code, _ = run_job(tmp_path, learning_runs_per_job=2,
                          config__rl_config__num_timesteps=4096)
    assert signaller.hit == sorted(dirs)
    assert code == EXIT_RESUME
    state = read_state(working_dir)
    assert state["in_flight"] == [] and state["segments"][0]["outcome"] == "resume"
    partial = []
    for run in state["runs"]:
        (attempt,) = run["attempts"]
        assert attempt["outcome"] == "interrupted" and attempt["model_saved"], attempt
        assert 0 < attempt["timesteps"] < 4096 and attempt["timesteps"] % 32 == 0
        partial.append(attempt["timesteps"])

    assert main(["run_learning.py", str(tmp_path / "settings.json")]) == 0  # continues both
    for run, done in zip(read_state(working_dir)["runs"], partial, strict=True):
        first, second = run["attempts"]
        assert second["outcome"] == "ok" and second["num_timesteps"] == 4096 - done
        assert second["load_path"] == f"../{first['dir']}/model.zip"
        assert run_info(working_dir, second)["num_timesteps"] == 4096


def test_one_runs_retry_starts_while_the_other_run_trains(tmp_path):
    working_dir = tmp_path / "job"
    with LearnerSignaller(working_dir, signal.SIGKILL, dirs={"run_0.0-0"},
                          when="logs/run_info.json") as killer:
        code, _ = run_job(tmp_path, learning_runs_per_job=2,
                          config__rl_config__num_timesteps=2048)
    assert killer.hit == ["run_0.0-0"]
    assert code == 0
    state = read_state(working_dir)
    killed, retry = state["runs"][0]["attempts"]
    (other,) = state["runs"][1]["attempts"]
    assert [killed["outcome"], retry["outcome"], other["outcome"]] == ["failed", "ok", "ok"]
    assert other["started"] < retry["started"] < other["ended"]  # while run 1 trained
    assert retry["cpus"] == killed["cpus"] != other["cpus"]  # on the CPU the kill freed
    assert state["status"] == "finished" and state["metrics"]["failed_attempts"] == 1
