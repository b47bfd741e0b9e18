"""When a job process ends its chunk (learning.job.rounds): the rule on states built by
hand, Slurm's time left read through a stand-in squeue, the settings, and a real
standalone job whose time limit makes it exit for resume after every iteration."""

from __future__ import annotations

import os
import re
import time

import pytest
from job_helpers import job_settings, read_state, write_settings

from learning.contract import EXIT_RESUME, OUTCOME_OK
from learning.job.cli import main
from learning.job.rounds import (
    TIME_SAFETY,
    ChunkRule,
    TimeLimit,
    longest_iteration,
    slurm_seconds,
    slurm_time_left,
    time_limit,
)
from learning.job.settings import JobConfigError, read_options
from learning.records.job_state import Attempt, JobState


def state_with_iterations(*seconds: float) -> JobState:
    state = JobState.new("digest", 3, 3, [1])
    for number, span in enumerate(seconds):
        attempt = Attempt(dir=f"run_0.{number}-0", iteration=number, attempt=0, seed=1,
                          num_timesteps=64, load_path="", started=100.0, ended=100.0 + span,
                          outcome=OUTCOME_OK)
        state.runs[0].attempts.append(attempt)
    return state


@pytest.mark.parametrize(("text", "seconds"), [
    ("0:45", 45), ("12:05", 725), ("1:00:00", 3600), ("2-03:04:05", 183845),
    ("UNLIMITED", None), ("NOT_SET", None), ("INVALID", None), ("", None)])
def test_slurm_time_left_is_read_as_squeue_prints_it(text, seconds):
    assert slurm_seconds(text) == seconds


def test_slurm_time_left_comes_from_squeue_for_this_job(tmp_path, monkeypatch):
    squeue = tmp_path / "squeue"
    squeue.write_text('#!/bin/sh\n[ "$*" = "-h -j 4711 -o %L" ] && echo 1:30 || exit 1\n')
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    assert slurm_time_left() is None  # not under Slurm
    monkeypatch.setenv("SLURM_JOB_ID", "4711")
    assert slurm_time_left() == 90
    limit = time_limit(None, time.time())
    assert limit is not None and "Slurm's time limit (90 s left" in limit.source
    assert abs(limit.deadline - time.time() - 90) < 5
    # the job's own setting comes first
    assert time_limit(600, 1000.0) == TimeLimit(1600.0, "job_time_limit_seconds 600 from"
                                                " the job's start")
    monkeypatch.setenv("SLURM_JOB_ID", "9")  # squeue fails: no limit
    assert slurm_time_left() is None


def test_a_job_process_starts_no_iteration_its_time_cannot_hold():
    state = state_with_iterations(10.0, 40.0)
    assert longest_iteration(state) == 40.0
    rule = ChunkRule(connected=True, every_round=False, limit=TimeLimit(1000.0, "test"))
    assert rule.stop_reason(state, 1, now=1000.0 - TIME_SAFETY * 40.0) is None
    why = rule.stop_reason(state, 1, now=1000.0 - TIME_SAFETY * 40.0 + 1)
    assert re.fullmatch(r"time short: 49 s left \(test\), a training iteration took up to"
                        r" 40 s", why)
    assert rule.stop_reason(state, 0, now=999.0) is None  # its first learners always start
    assert rule.stop_reason(state_with_iterations(), 1, now=999.0) is None  # no estimate
    assert ChunkRule(True, False, None).stop_reason(state, 5) is None  # no limit: never


def test_one_round_per_job_process_only_where_asked_and_under_cluster_utils():
    state = state_with_iterations(10.0)
    assert ChunkRule(True, True, None).stop_reason(state, 0) is None
    assert ChunkRule(True, True, None).stop_reason(state, 2) == (
        "round done (resume_after_each_round)")
    assert ChunkRule(False, True, None).stop_reason(state, 2) is None  # standalone
    assert ChunkRule(True, False, None).stop_reason(state, 2) is None  # the default


def test_the_settings_of_warm_starts_rounds_and_time_limits():
    options = read_options({})
    assert (options.warm_learner_start, options.resume_after_each_round,
            options.job_time_limit_seconds) == (True, False, None)
    options = read_options({"warm_learner_start": False, "resume_after_each_round": True,
                            "job_time_limit_seconds": 3600})
    assert (options.warm_learner_start, options.resume_after_each_round,
            options.job_time_limit_seconds) == (False, True, 3600)
    for key in ("warm_learner_start", "resume_after_each_round"):
        with pytest.raises(JobConfigError, match=f"^setting {key}: expected true or false,"
                                                 " got 1$"):
            read_options({key: 1})
    with pytest.raises(JobConfigError, match="^setting job_time_limit_seconds: expected a"
                                             " number of seconds >= 1, got '1h'$"):
        read_options({"job_time_limit_seconds": "1h"})


@pytest.mark.slow
def test_a_standalone_job_out_of_time_exits_for_resume_and_continues(tmp_path, capsys):
    """job_time_limit_seconds 1: every job process trains its first learner only (its
    first learners always start), then its time is short (a second of limit, an
    iteration that took longer): exit code 3 and the command to continue; three
    processes train the three iterations."""
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=1, training_iterations=3, job_time_limit_seconds=1))
    codes = [main(["run_learning.py", str(settings)]) for _ in range(3)]
    assert codes == [EXIT_RESUME, EXIT_RESUME, 0]
    state = read_state(working_dir)
    assert [s["outcome"] for s in state["segments"]] == ["resume", "resume", "finished"]
    assert [a["dir"] for a in state["runs"][0]["attempts"]] == [
        "run_0.0-0", "run_0.1-0", "run_0.2-0"]
    log = (working_dir / "job.log").read_text()
    assert log.count("time limit: job_time_limit_seconds 1 from the job's start") == 3
    assert log.count("; stopping (exit code 3). Continue with: python run_learning.py") == 2
    assert re.search(r"time short: \d+ s left \(job_time_limit_seconds 1 from the job's"
                     r" start\), a training iteration took up to \d+ s; stopping", log)
