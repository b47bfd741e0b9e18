"""A job's settings and configs, checked before any learner starts (no training here)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from job_helpers import job_settings, write_settings

from learning.contract import EXIT_CONFIG
from learning.job.cli import main
from learning.job.settings import standalone_working_dir, with_working_dir


def run_job(tmp_path, extra=None, **params):
    working_dir = tmp_path / "job"
    settings = write_settings(tmp_path / "settings.json",
                              job_settings(working_dir, extra, **params))
    return main(["run_learning.py", str(settings)]), working_dir


@pytest.mark.parametrize("params, pattern", [
    ({"config.hysr_config.robot_position:3": 0.1}, r"config error: parameter 'config.hysr_con"
     r"fig.robot_position:3': index :3 out of range .*hysr.json .*valid: 0..2"),
    ({"learning_runs": 2}, r"config error: unknown job settings \['learning_runs'\]"),
    # type-correct values that only the learner's checks used to reject (it exited 2 or,
    # for the env's own checks, 1 and was retried max_attempts times)
    ({"config.rl_config.gamma": 1.5}, r"parameter 'config.rl_config.gamma': gamma: 1.5 is out"),
    ({"config.rl_config.num_timesteps": 0}, r"num_timesteps: 0 is out of range; valid: an"
     r" integer >= 1"),
    ({"config.rl_config.num_timesteps": -5}, r"num_timesteps: -5 is out of range"),
    ({"config.rl_common_config.checkpoint_interval": -1},
     r"checkpoint_interval: -1 is out of range; valid: a value in \[0, inf\)"),
    ({"config.hysr_config.ball_launch_position_max:1": 9.0},
     r"ball_launch_position_max:1: 9.0 lies outside world_boundaries; valid: a value in"),
    ({"config.pam_config.torque_per_bar_ago:0": 0.0},
     r"torque_per_bar_ago:0: 0.0 is out of range; valid: a value in \(0, inf\)"),
    # stable-baselines3 asserted this in every learner (a crash, retried max_attempts times)
    ({"config.rl_config.n_steps": 1}, r"parameter 'config.rl_config.n_steps': n_steps: "
     r"n_steps \* n_envs = 1: PPO normalizes"),
    # stable-baselines3 only warned in each learner's stderr.log
    ({"config.rl_config.n_steps": 100}, r"parameter 'config.rl_config.batch_size': batch_size:"
     r" 32 does not divide the rollout of n_steps \* n_envs = 100 steps.*valid: a factor of"
     r" 100, e\.g\. 10, 20, 25, 50, 100 \(template .*ppo_default.json\)"),
])
def test_config_error_fails_before_any_training(tmp_path, capsys, params, pattern):
    code, working_dir = run_job(tmp_path, params)
    assert code == EXIT_CONFIG
    err = capsys.readouterr().err
    assert re.search(pattern, err), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (working_dir / "job_state.json").exists()
    assert not list(working_dir.glob("run_*"))


def test_standalone_config_error_is_one_line_and_exit_code_2(tmp_path):
    settings = write_settings(tmp_path / "settings.json", job_settings(
        tmp_path / "job", {"config.hysr_config.ball_launch_position_max:1": 9.0}))
    result = subprocess.run([sys.executable, "run_learning.py", str(settings)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("config error: parameter 'config.hysr_config.ball_launch")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def teststandalone_working_dir_choice(tmp_path):
    server = ["s.py", "--job-id=3", "--cluster-utils-server=1.2.3.4:5", "--parameter-dict",
              "{'working_dir': '/x'}"]
    assert standalone_working_dir(server) is None  # cluster_utils decides
    own = write_settings(tmp_path / "a" / "settings.json", {"working_dir": str(tmp_path)})
    assert standalone_working_dir(["s.py", str(own)]) is None  # unfinished: resume there
    assert standalone_working_dir(["s.py", str(own), "working_dir='/y'"]) is None
    bare = write_settings(tmp_path / "b" / "settings.json", {"config": {}})
    default = standalone_working_dir(["s.py", str(bare)])
    assert default.parent.name == "jobs" and default.parent.parent.name == "results"
    argv = ["s.py", "--job-id", "3", "--parameter-dict", "{}", "a=1"]
    assert with_working_dir(argv, Path("/w")) == [
        "s.py", "--job-id", "3", "--parameter-dict", "{}", "working_dir='/w'", "a=1"]


def test_process_start_time_lies_between_the_spawn_and_the_processs_own_clock():
    """A job process's start (Segment.started, the benchmarks' job start) is taken from
    /proc to within a clock tick: not before the parent spawned it, not after the child's
    own clock. (/proc/stat's btime, whole seconds, put it up to a second too early.)"""
    code = ("import time; from learning.job.settings import process_start_time;"
            " print(process_start_time(), time.time())")
    for _ in range(3):
        spawned = time.time()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=Path(__file__).resolve().parents[2]).stdout
        started, child_now = map(float, out.split())
        tick = 1 / os.sysconf("SC_CLK_TCK")
        assert spawned - 2 * tick <= started <= child_now, (spawned, started, child_now)
