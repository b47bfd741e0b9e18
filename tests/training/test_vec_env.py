"""Vectorized training envs (rl_config n_envs, vec_env): training, continuation, signals,
the same evaluation; real env and stable-baselines3 on tiny budgets."""

from __future__ import annotations

import os
import signal

import pytest
from test_train import make_run, read_json, read_progress, start_training

from learning.__main__ import main
from learning.contract import EXIT_CONFIG, EXIT_INTERRUPTED

pytestmark = pytest.mark.slow  # every test here trains


@pytest.fixture(autouse=True)
def one_cpu():
    """One CPU for the learner and its env workers (the machine is shared)."""
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(allowed)})
    yield
    os.sched_setaffinity(0, allowed)


def test_ppo_with_dummy_then_subproc_envs_trains_and_continues(tmp_path, monkeypatch):
    """Also under VecNormalize, whose statistics the continuation reloads."""
    monkeypatch.chdir(tmp_path)
    # n_steps is per env: rollouts of 2 x 32 steps
    assert main([str(make_run(tmp_path, rl={"n_envs": 2, "n_steps": 32,
                                             "normalize": True}))]) == 0
    assert [int(r["time/total_timesteps"])
            for r in read_progress(tmp_path / "logs" / "progress.csv")] == [64, 128]
    assert read_json(tmp_path / "logs" / "evaluation.json")["episodes"] == 2
    again = make_run(tmp_path, rl={"n_envs": 4, "n_steps": 16, "vec_env": "subproc",
                                   "normalize": True, "load_path": "models/model.zip"},
                     name="again")
    assert main([str(again)]) == 0
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert (info["status"], info["num_timesteps_start"], info["num_timesteps"]) == (
        "finished", 128, 256)
    assert info["normalization_loaded"], info
    assert read_json(tmp_path / "logs" / "evaluation.json")["num_timesteps"] == 256


def test_subproc_learner_saves_when_every_process_gets_the_signal(tmp_path):
    """Slurm's warning reaches every process of the job step: the env workers ignore it,
    the learner saves and exits 75."""
    config = make_run(tmp_path, rl={"num_timesteps": 10_000_000, "n_envs": 2, "n_steps": 32,
                                    "vec_env": "subproc"})
    process = start_training(tmp_path, config, start_new_session=True)
    os.killpg(process.pid, signal.SIGUSR1)  # the learner, the forkserver and the workers
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == EXIT_INTERRUPTED, stderr
    assert "Traceback" not in stderr
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert info["status"] == "interrupted" and info["num_timesteps"] >= 64
    assert (tmp_path / "models" / "model.zip").is_file()


def test_sac_continuation_with_other_n_envs_is_a_config_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path, "sac", rl={"n_envs": 2}))]) == 0
    again = make_run(tmp_path, "sac", rl={"load_path": "models/model.zip"}, name="again")
    assert main([str(again)]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "again_rl.json: n_envs: is 1, but the replay buffer" in err
    assert "filled by 2 envs; valid: 2" in err
