"""A learner that makes no progress (SIGSTOP, hung) is noticed, stopped and retried.

The watch's rule on real heartbeat files with the job's clock stepped by hand; the pool's
SIGTERM-SIGCONT-SIGKILL on a real process that ignores SIGTERM; the job setting checked
like the other options; and a real job whose real learner is SIGSTOPped (slow)."""

from __future__ import annotations

import os
import re
import signal
import time

import pytest
from job_helpers import LearnerSignaller, job_settings, progress_rows, read_state, write_settings

from learning.contract import (
    EXIT_CONFIG,
    HEARTBEAT_FILE,
    HEARTBEAT_FILE_VARIABLE,
    LEARNER_MODULE_VARIABLE,
)
from learning.job.cli import main
from learning.job.continuation import model_timesteps
from learning.job.learner import SignalForwarder
from learning.job.pool import LearnerPool
from learning.job.settings import JobConfigError, read_options
from learning.job.stall import StallWatch
from learning.training.callbacks import Heartbeat, StopRequest


class Clock:
    """The job's clock, stepped by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def renew(heartbeat, when_ns):
    os.utime(heartbeat, ns=(when_ns, when_ns))


@pytest.fixture
def heartbeat(tmp_path):
    path = tmp_path / HEARTBEAT_FILE
    path.write_bytes(b"")
    renew(path, 1)
    return path


def watch_one(heartbeat, stall=4.0, startup=20.0):
    clock = Clock()
    watch = StallWatch(stall, startup, clock=clock)
    watch.add("run_0.0-0", heartbeat)
    return watch, clock


def step(watch, clock, seconds):
    """Let ``seconds`` pass, looking as often as the job does; the stalls seen."""
    stalls = []
    end = clock.now + seconds
    while clock.now < end:
        timeout = watch.timeout()
        clock.now = end if timeout is None else min(clock.now + timeout, end)
        stalls += watch.look()
    return stalls


def test_startup_counts_against_the_startup_allowance_only(heartbeat):
    watch, clock = watch_one(heartbeat, stall=4, startup=20)
    assert watch.timeout() == 1.0  # a look every quarter of the stall time
    assert step(watch, clock, 19) == []  # imports, env, model: no heartbeat yet
    (stall,) = step(watch, clock, 1)
    assert (stall.key, stall.beating, stall.allowed) == ("run_0.0-0", False, 20)
    assert "since it started" in stall.describe()
    assert step(watch, clock, 60) == []  # reported once
    assert watch.timeout() is None


def test_after_its_first_heartbeat_a_silence_of_the_stall_time_is_a_stall(heartbeat):
    watch, clock = watch_one(heartbeat, stall=4, startup=20)
    step(watch, clock, 10)
    for beat in range(2, 12):  # a heartbeat every second: never stalled
        renew(heartbeat, beat)
        assert step(watch, clock, 1) == []
    assert step(watch, clock, 3.5) == []
    (stall,) = step(watch, clock, 1)
    assert stall.beating and stall.allowed == 4 and 4 <= stall.seconds <= 5
    assert stall.describe() == (f"no progress for {stall.seconds:.1f} s (no heartbeat;"
                                " learner_stall_seconds 4)")


def test_the_larger_stall_time_counts_while_starting(heartbeat):
    watch, clock = watch_one(heartbeat, stall=30, startup=5)
    assert step(watch, clock, 29) == []
    assert len(step(watch, clock, 1)) == 1


def test_a_job_that_did_not_look_for_a_while_does_not_blame_its_learners(heartbeat):
    """Suspended with its learners (SIGSTOP, Slurm's suspend): on its return their
    silence is not theirs; their time starts again."""
    watch, clock = watch_one(heartbeat, stall=4, startup=4)
    renew(heartbeat, 2)
    assert step(watch, clock, 2) == []
    clock.now += 3600  # the job did not run
    assert watch.look() == []
    assert step(watch, clock, 3.5) == []
    assert len(step(watch, clock, 1)) == 1


def test_a_removed_learner_is_no_longer_watched(heartbeat):
    watch, clock = watch_one(heartbeat, stall=4, startup=4)
    watch.remove("run_0.0-0")
    assert watch.timeout() is None
    clock.now += 100
    assert watch.look() == []


# --------------------------------------------------------------------------- the learner


def test_the_learner_renews_its_heartbeat_at_most_once_an_interval(heartbeat, monkeypatch):
    monkeypatch.setenv(HEARTBEAT_FILE_VARIABLE, str(heartbeat))
    stop = StopRequest()  # the learner asks it at every env step
    assert not stop.requested
    first = os.stat(heartbeat).st_mtime_ns
    assert first > 1
    renew(heartbeat, 1)
    for _ in range(1000):
        assert not stop.requested
    assert os.stat(heartbeat).st_mtime_ns == 1  # not again within the interval
    beat = Heartbeat(str(heartbeat), interval=0.0)
    beat.beat()
    assert os.stat(heartbeat).st_mtime_ns > 1


def test_a_learner_run_by_hand_has_no_heartbeat(tmp_path, monkeypatch):
    monkeypatch.delenv(HEARTBEAT_FILE_VARIABLE, raising=False)
    stop = StopRequest()
    assert stop.heartbeat.path is None and not stop.requested
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the pool


def test_a_stalled_learner_that_ignores_sigterm_is_killed_after_the_grace(
        tmp_path, monkeypatch):
    monkeypatch.setenv(LEARNER_MODULE_VARIABLE, "tests.job.stubborn_learner")
    pool = LearnerPool(SignalForwarder())
    learner = pool.start("run_0.0-0", tmp_path, "config/config.json", None, 1)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ready").exists():  # SIGTERM is ignored from here on
            assert time.monotonic() < deadline, "the stubborn learner did not start"
            time.sleep(0.05)
        assert pool.wait_any(timeout=0.3) is None  # still running: the wait times out
        os.kill(learner.process.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        pool.stop_stalled(learner, grace=1.0)
        ended = pool.wait_any(timeout=30)
        assert ended is not None
        _, result = ended
        assert result.signal == signal.SIGKILL  # SIGTERM, SIGCONT, then SIGKILL
        assert 0.9 <= time.monotonic() - stopped < 10
    finally:
        pool.close()


# --------------------------------------------------------------------------- the setting


@pytest.mark.parametrize("key", ["learner_stall_seconds", "learner_startup_seconds"])
@pytest.mark.parametrize("value", [0, 0.5, -60, "60", True, None, float("nan"), float("inf")])
def test_a_bad_stall_time_is_a_config_error_naming_the_setting(key, value):
    with pytest.raises(JobConfigError, match=rf"^setting {key}: expected a number of seconds"
                                             rf" >= 1, got {re.escape(repr(value))}$"):
        read_options({key: value})


def test_the_stall_times_default_to_half_an_hour_and_take_numbers():
    options = read_options({})
    assert (options.learner_stall_seconds, options.learner_startup_seconds) == (1800, 1800)
    options = read_options({"learner_stall_seconds": 2.5, "learner_startup_seconds": 1})
    assert (options.learner_stall_seconds, options.learner_startup_seconds) == (2.5, 1)


def test_a_standalone_job_with_a_bad_stall_time_stops_before_training(tmp_path, capsys):
    settings = write_settings(tmp_path / "settings.json",
                              job_settings(tmp_path / "job", learner_stall_seconds=0))
    assert main(["run_learning.py", str(settings)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert err == ("config error: setting learner_stall_seconds: expected a number of"
                   " seconds >= 1, got 0\n")
    assert not list((tmp_path / "job").glob("run_*"))


# --------------------------------------------------------------------------- a real job


@pytest.mark.slow
def test_a_sigstopped_learner_is_stopped_and_retried_within_the_stall_time(tmp_path):
    """SIGSTOP while it trains (after its first heartbeats: its start, 2-5 s here, is not
    counted): the job logs the stall, stops it (SIGTERM and SIGCONT: it saves its model
    and exits), counts a failed attempt and continues from that model."""
    working_dir = tmp_path / "job"
    stopped_at: list[float] = []
    training = progress_rows(3)

    def ready(attempt_dir):
        if not training(attempt_dir):
            return False
        stopped_at.append(time.time())
        return True

    settings = write_settings(tmp_path / "settings.json", job_settings(
        working_dir, learning_runs_per_job=1, learner_stall_seconds=3,
        config__rl_config__num_timesteps=1024,
        config__rl_common_config__checkpoint_interval=128))
    with LearnerSignaller(working_dir, signal.SIGSTOP, dirs={"run_0.0-0"}, when=ready):
        code = main(["run_learning.py", str(settings)])
    assert code == 0
    state = read_state(working_dir)
    stalled, retry = state["runs"][0]["attempts"]
    assert (stalled["outcome"], retry["outcome"]) == ("failed", "ok")
    assert re.match(r"stalled: no progress for \d+\.\d s \(no heartbeat; learner_stall_seconds"
                    r" 3\); the job stopped it \(exit code 75\)$", stalled["message"])
    noticed = stalled["ended"] - stopped_at[0]
    assert 1.0 < noticed < 3 * 1.25 + 1 + 5  # the stall time, a look, a heartbeat; load
    assert stalled["model_saved"] and retry["load_path"] == "../run_0.0-0/model.zip"
    assert retry["num_timesteps"] == 1024 - stalled["timesteps"]
    assert model_timesteps(working_dir / "run_0.0-1" / "model.zip") == 1024
    assert state["metrics"]["failed_attempts"] == 1
    log = (working_dir / "job.log").read_text()
    (line,) = [line for line in log.splitlines() if "stalled" in line and "stopping" in line]
    assert re.search(r"run_0\.0-0: stalled: no progress for \d+\.\d s \(no heartbeat;"
                     r" learner_stall_seconds 3\); stopping its learner \(pid \d+: SIGTERM and"
                     r" SIGCONT, SIGKILL after 10 s\)$", line), line
