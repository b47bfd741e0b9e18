"""How a learner attempt is classified from its exit and the files it left (no processes)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from learning.job.learner import LearnerExit
from learning.job.outcomes import classify, classify_files


def ended(code: int | None = None, sig: int | None = None) -> LearnerExit:
    return LearnerExit(exit_code=code, signal=sig, started=0.0, ended=1.0, cpu_seconds=1.0)


def leave_run_info(run_dir: Path, **info) -> None:
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    (run_dir / "logs" / "run_info.json").write_text(json.dumps(info))


def leave_finished_run(run_dir: Path, timesteps: int = 128) -> None:
    leave_run_info(run_dir, status="finished", num_timesteps=timesteps)
    logs = run_dir / "logs"
    (logs / "evaluation.json").write_text(json.dumps({"mean_reward": 0.1, "hit_rate": 0.5}))
    (logs / "progress.csv").write_text("rollout/ep_rew_mean\n0.1\n")
    (run_dir / "model.zip").write_bytes(b"model")


def leave_running_with_checkpoint(run_dir: Path) -> None:
    leave_run_info(run_dir, status="running", num_timesteps=0)
    (run_dir / "model.zip").write_bytes(b"checkpoint")


def leave_interrupted(run_dir: Path) -> None:
    leave_run_info(run_dir, status="interrupted", num_timesteps=96, message="interrupted")
    (run_dir / "model.zip").write_bytes(b"model")


def leave_stderr(text: str):
    def leave(run_dir: Path) -> None:
        (run_dir / "stderr.log").write_text(text)
    return leave


def leave_failed_write(code: int):
    def leave(run_dir: Path) -> None:
        leave_run_info(run_dir, status="failed", num_timesteps=64, exit_code=code,
                       message=f"cannot write {run_dir}/model.zip: read-only file system")
    return leave


def nothing(run_dir: Path) -> None:
    pass


NO_SPACE_LINE = "cannot write /x/run_0.0-0/model.zip: no space left on device"


@pytest.mark.parametrize("files, result, stop, expected", [
    # a learner that finished and saved everything has finished, however it ended then
    # (Slurm's warning after the end; a SIGKILL after it wrote run_info 'finished')
    (leave_finished_run, ended(sig=signal.SIGUSR1), True, ("ok", "SIGUSR1", 128)),
    (leave_finished_run, ended(sig=signal.SIGKILL), False, ("ok", "SIGKILL", 128)),
    (leave_finished_run, ended(code=1), False, ("ok", "exit code 1", 128)),
    (leave_finished_run, ended(code=0), False, ("ok", "", 128)),
    (leave_interrupted, ended(code=75), True, ("interrupted", "interrupted", 96)),
    (nothing, ended(sig=signal.SIGTERM), True, ("interrupted", "SIGTERM", None)),
    (nothing, ended(sig=signal.SIGKILL), False, ("failed", "SIGKILL", None)),
    (leave_running_with_checkpoint, ended(sig=signal.SIGKILL), False,
     ("failed", "SIGKILL", None)),
    (nothing, ended(code=65), False, ("diverged", "", None)),
    (leave_stderr("config error: x.json: gamma: ...\n"), ended(code=2), False,
     ("config_error", "gamma", None)),
    # a learner that could not write: exit codes 74/73, never a plain failure, also after
    # a stop signal; the message is the learner's line, or says where stderr went
    (leave_stderr(f"some warning\n{NO_SPACE_LINE}\n"), ended(code=74), False,
     ("no_space", NO_SPACE_LINE, None)),
    (leave_stderr(NO_SPACE_LINE), ended(code=74), True, ("no_space", NO_SPACE_LINE, None)),
    (nothing, ended(code=74), False,
     ("no_space", "no space left on device (exit code 74; the learner's stderr.log is on"
      " the same disk)", None)),
    (leave_failed_write(73), ended(code=73), False,
     ("write_failed", "model.zip: read-only file system", None)),
])
def test_classify(tmp_path, files, result, stop, expected):
    files(tmp_path)
    kind, message, timesteps = classify(tmp_path, result, stop_requested=stop)
    assert (kind, timesteps) == (expected[0], expected[2]), message
    assert expected[1] in message


@pytest.mark.parametrize("files, kind", [
    (leave_finished_run, "ok"),
    (leave_interrupted, "interrupted"),
    (leave_failed_write(74), "no_space"),  # how an earlier job's learner ended: truthfully
    (leave_failed_write(73), "write_failed"),
    (leave_running_with_checkpoint, "failed"),
    (nothing, "failed"),
])
def test_classify_files_of_an_attempt_left_by_an_earlier_job(tmp_path, files, kind):
    files(tmp_path)
    assert classify_files(tmp_path).kind == kind
