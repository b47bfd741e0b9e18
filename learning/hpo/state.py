"""Restart state of a job: one small JSON file in the job's working directory.

The file is replaced atomically (write a temporary file in the same folder, fsync,
``os.replace``), so a job killed at any moment leaves either the previous or the
new state, never a mix.  Its layout (``format`` ``lttfs-job-state/1``)::

    {
      "format": "lttfs-job-state/1",
      "params_digest": "...",        # sha256 of the job's parameters (not working_dir)
      "learning_runs_per_job": 3, "training_iterations": 1, "max_attempts": 3,
      "status": "running" | "finished" | "failed",
      "message": null | "why the job failed",
      "runs": [
        {"run": 0, "seed": 1234, "status": "pending" | "running" | "finished" | "failed",
         "iteration": 0,              # current chained training iteration
         "failed_attempts": 0,        # failed attempts of this run (all iterations)
         "next_attempt": 0,           # attempt number of the next learner start (per iteration)
         "resume_model": null,        # model to continue from (working-dir relative)
         "resume_timesteps": 0,       # model timesteps at that point
         "iteration_start_timesteps": 0, "iteration_target_timesteps": null,
         "attempts": [{"dir": "run_0.0-0", "iteration": 0, "attempt": 0,
                       "num_timesteps": 256, "load_path": "", "started": t, "ended": t,
                       "cpu_seconds": 1.2, "exit_code": 0, "signal": null,
                       "outcome": "ok" | "interrupted" | "failed" | "diverged" | "lost",
                       "message": "..."}],
         "final_model": null | "run_0.0-0/model.zip",
         "score": null | {"eprewmean": ..., "eval_reward": ..., "hit_rate": ...}}
      ],
      "in_flight": null | {"run": 0, "dir": "run_0.0-0", "pid": 123, "started": t},
      "segments": [{"pid": 1, "host": "...", "started": t, "learner_started": t,
                    "learner_ended": t, "ended": t, "outcome": "resume"}]
    }

Times are Unix seconds.  Paths are relative to the working directory so a copied
job folder (cluster_utils' best_jobs) stays readable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from learning.atomic_io import atomic_write_json

STATE_FILE = "job_state.json"
FORMAT = "lttfs-job-state/1"
_REQUIRED = ("format", "params_digest", "status", "runs", "segments")


class StateError(RuntimeError):
    """The restart state file exists but cannot be used; the message says why."""


def new_run(run: int, seed: int) -> dict[str, Any]:
    return {
        "run": run,
        "seed": seed,
        "status": "pending",
        "iteration": 0,
        "failed_attempts": 0,
        "next_attempt": 0,
        "resume_model": None,
        "resume_timesteps": 0,
        "iteration_start_timesteps": 0,
        "iteration_target_timesteps": None,
        "attempts": [],
        "final_model": None,
        "score": None,
    }


def new_state(
    params_digest: str,
    learning_runs_per_job: int,
    training_iterations: int,
    max_attempts: int,
    seeds: list[int],
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "params_digest": params_digest,
        "learning_runs_per_job": learning_runs_per_job,
        "training_iterations": training_iterations,
        "max_attempts": max_attempts,
        "status": "running",
        "message": None,
        "runs": [new_run(run, seed) for run, seed in enumerate(seeds)],
        "in_flight": None,
        "segments": [],
    }


def save_state(working_dir: Path, state: dict[str, Any]) -> None:
    atomic_write_json(Path(working_dir) / STATE_FILE, state, indent=1, sort_keys=True)


def load_state(working_dir: Path) -> dict[str, Any] | None:
    """Return the saved state, None if there is none; StateError if it is unusable."""
    path = Path(working_dir) / STATE_FILE
    for stale in Path(working_dir).glob(f".{STATE_FILE}.*.tmp"):
        stale.unlink(missing_ok=True)  # a write interrupted before os.replace
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    hint = (
        " The job writes this file atomically, so it was cut off or changed outside"
        " the job. Move it away to restart the job from scratch (finished runs are"
        " then trained again)."
    )
    try:
        state = json.loads(text)
    except json.JSONDecodeError as e:
        raise StateError(
            f"restart state {path} is not valid JSON ({len(text)} bytes, {e}).{hint}"
        ) from e
    if not isinstance(state, dict) or any(key not in state for key in _REQUIRED):
        raise StateError(f"restart state {path} lacks keys {list(_REQUIRED)}.{hint}")
    if state["format"] != FORMAT:
        raise StateError(
            f"restart state {path} has format {state['format']!r}; this version reads"
            f" {FORMAT!r}.{hint}"
        )
    return state
