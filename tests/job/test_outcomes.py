"""How a learner attempt is classified from its exit and the files it left (no processes)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from learning.job.learner import LearnerExit
from learning.job.outcomes import classify


def killed(sig: int) -> LearnerExit:
    return LearnerExit(exit_code=None, signal=sig, started=0.0, ended=1.0, cpu_seconds=1.0)


def leave_finished_run(run_dir: Path, timesteps: int = 128) -> None:
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    (logs / "run_info.json").write_text(
        json.dumps({"status": "finished", "num_timesteps": timesteps})
    )
    (logs / "evaluation.json").write_text(json.dumps({"mean_reward": 0.1, "hit_rate": 0.5}))
    (logs / "progress.csv").write_text("rollout/ep_rew_mean\n0.1\n")
    (run_dir / "model.zip").write_bytes(b"model")


def test_signal_after_a_finished_run_keeps_the_run(tmp_path):
    """Slurm's warning can kill a learner that has already finished and saved: its
    results count, the run is not retrained."""
    leave_finished_run(tmp_path)
    outcome, _, timesteps = classify(tmp_path, killed(signal.SIGUSR1), stop_requested=True)
    assert (outcome, timesteps) == ("ok", 128)


def test_signal_before_anything_was_saved_is_an_interruption_without_model(tmp_path):
    outcome, message, timesteps = classify(tmp_path, killed(signal.SIGTERM), stop_requested=True)
    assert outcome == "interrupted" and timesteps is None
    assert "SIGTERM" in message


def test_kill_without_a_stop_request_is_a_failed_attempt(tmp_path):
    leave_finished_run(tmp_path)
    outcome, message, _ = classify(tmp_path, killed(signal.SIGKILL), stop_requested=False)
    assert outcome == "failed" and "SIGKILL" in message
