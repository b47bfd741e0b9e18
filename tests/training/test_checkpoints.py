"""Periodic checkpoints of the learner, the timesteps a stopped model counts, and a
continuation that only evaluates (tiny budgets, the real env and stable-baselines3)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import torch
from test_train import (  # noqa: F401 (one_cpu: autouse)
    main,
    make_run,
    one_cpu,
    read_json,
    read_progress,
    start_training,
)

from learning.contract import replay_buffer_path
from learning.training.callbacks import DivergedError
from learning.training.checkpoints import Checkpoints


def model_timesteps(path: Path) -> int:
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("data"))["num_timesteps"]


def kill_after_checkpoints(tmp_path: Path, process: subprocess.Popen, count: int) -> dict:
    """SIGKILL the learner once run_info.json records ``count`` checkpoints; run_info."""
    info_path = tmp_path / "logs" / "run_info.json"
    deadline = time.time() + 240
    while time.time() < deadline and process.poll() is None:
        info = json.loads(info_path.read_text())
        if info.get("checkpoints", 0) >= count:
            break
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return json.loads(info_path.read_text())


@pytest.mark.slow
def test_a_killed_ppo_learner_leaves_its_last_checkpoint(tmp_path, monkeypatch):
    """Checkpoints every 128 timesteps (2 rollouts of 64): SIGKILL loses at most that; the
    checkpoint continues to exactly the target."""
    config = make_run(tmp_path, rl={"num_timesteps": 10_000_000},
                      common={"checkpoint_interval": 128})
    process = start_training(tmp_path, config)
    info = kill_after_checkpoints(tmp_path, process, 2)
    model = tmp_path / "models" / "model.zip"
    saved = model_timesteps(model)
    assert info["status"] == "running" and info["checkpoint_timesteps"] <= saved
    assert saved >= 256 and saved % 64 == 0  # at a rollout boundary: what it trained on
    collected = max(int(row["time/total_timesteps"])
                    for row in read_progress(tmp_path / "logs" / "progress.csv"))
    assert 0 <= collected - saved <= 128  # the rollouts logged since: at most one interval
    assert not [p.name for p in model.parent.iterdir() if p.name.startswith(".")]

    monkeypatch.chdir(tmp_path)
    again = make_run(tmp_path, rl={"load_path": "models/model.zip", "num_timesteps": 192},
                     name="again")
    assert main([str(again)]) == 0
    assert read_json(tmp_path / "logs" / "run_info.json")["num_timesteps"] == saved + 192


@pytest.mark.slow
def test_a_sac_checkpoint_holds_its_replay_buffer(tmp_path):
    config = make_run(tmp_path, "sac", rl={"num_timesteps": 10_000_000},
                      common={"checkpoint_interval": 64})
    process = start_training(tmp_path, config)
    kill_after_checkpoints(tmp_path, process, 1)

    from stable_baselines3 import SAC

    model_path = tmp_path / "models" / "model.zip"
    model = SAC.load(model_path)
    model.load_replay_buffer(replay_buffer_path(model_path))
    assert model.num_timesteps >= 64
    # saved together (the buffer first): it holds every step the model counts
    assert model.replay_buffer.size() >= model.num_timesteps


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["ppo", "sac"])
def test_zero_timesteps_with_a_load_path_only_evaluates(tmp_path, monkeypatch, algorithm):
    monkeypatch.chdir(tmp_path)
    assert main([str(make_run(tmp_path, algorithm))]) == 0
    trained = read_json(tmp_path / "logs" / "run_info.json")["num_timesteps"]
    rows = read_progress(tmp_path / "logs" / "progress.csv")
    (tmp_path / "logs" / "evaluation.json").unlink()
    again = make_run(tmp_path, algorithm, name="again", rl={
        "load_path": "models/model.zip", "num_timesteps": 0, "save_path": "evaluated/model.zip"})
    assert main([str(again)]) == 0
    info = read_json(tmp_path / "logs" / "run_info.json")
    assert (info["status"], info["num_timesteps_start"], info["num_timesteps"]) == (
        "finished", trained, trained)
    assert read_json(tmp_path / "logs" / "evaluation.json")["num_timesteps"] == trained
    assert model_timesteps(tmp_path / "evaluated" / "model.zip") == trained
    assert read_progress(tmp_path / "logs" / "progress.csv") == rows  # nothing trained


def test_parameters_that_became_nan_are_never_saved(tmp_path):
    """A checkpoint checks the parameters first: a diverged model is not what a retry
    should continue from."""
    from stable_baselines3 import PPO

    model = PPO("MlpPolicy", "Pendulum-v1", n_steps=64, batch_size=32, device="cpu")
    saves = []
    checkpoints = Checkpoints(100, save=lambda: saves.append(model.num_timesteps))
    checkpoints.init_callback(model)
    checkpoints.on_training_start({}, {})
    model.num_timesteps = 99
    checkpoints.on_rollout_start()
    model.num_timesteps = 128
    checkpoints.on_rollout_start()
    assert saves == [128] and checkpoints.count == 1
    with torch.no_grad():
        next(model.policy.parameters())[0] = float("nan")
    model.num_timesteps = 256
    with pytest.raises(DivergedError, match="non-finite network parameter"):
        checkpoints.on_rollout_start()
    assert saves == [128]
