"""A job with rl_config.normalize and policy_kwargs parameters: the normalization
statistics travel with the model through chained iterations and retries, and every
attempt writes its own TensorBoard run."""

from __future__ import annotations

import json
import pickle
import signal

import pytest
from job_helpers import LearnerSignaller, job_settings, read_state, write_settings

from learning.job.cli import main

pytestmark = pytest.mark.slow  # real learner processes


def observation_count(path) -> float:
    with open(path, "rb") as f:
        return pickle.load(f).obs_rms.count


def test_statistics_travel_with_the_model_through_iterations_and_retries(tmp_path):
    working_dir = tmp_path / "job"
    settings = job_settings(working_dir, {
        "config.rl_config.normalize": True,
        "config.rl_config.policy_kwargs.activation_fn": "relu",
        "config.rl_config.policy_kwargs.net_arch.vf": [32],
    }, learning_runs_per_job=1, training_iterations=2)
    settings_file = write_settings(tmp_path / "settings.json", settings)
    with LearnerSignaller(working_dir, signal.SIGKILL, dirs={"run_0.1-0"},
                          when="logs/run_info.json") as killer:
        code = main(["run_learning.py", str(settings_file)])
    assert killer.hit == ["run_0.1-0"] and code == 0
    run = read_state(working_dir)["runs"][0]
    outcomes = [(a["dir"], a["outcome"]) for a in run["attempts"]]
    assert outcomes == [("run_0.0-0", "ok"), ("run_0.1-0", "failed"), ("run_0.1-1", "ok")]
    rl = json.loads((working_dir / "run_0.1-1/config/rl_config.json").read_text())
    assert rl["normalize"]["norm_obs"] and rl["policy_kwargs"]["activation_fn"] == "relu"
    info = json.loads((working_dir / "run_0.1-1/logs/run_info.json").read_text())
    # the retry continued the first iteration's model with its statistics
    assert info["normalization_loaded"] == "../run_0.0-0/model_vecnormalize.pkl"
    first = observation_count(working_dir / "run_0.0-0/model_vecnormalize.pkl")
    assert first == pytest.approx(1e-4 + 65)  # 64 steps and the first reset
    final = observation_count(working_dir / "run_0.1-1/model_vecnormalize.pkl")
    assert final == pytest.approx(first + 65)
    for attempt in ("run_0.0-0", "run_0.1-1"):
        assert list((working_dir / attempt / "logs" / "tensorboard").glob("events.out.*"))
